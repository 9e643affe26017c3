"""What a training or finetuning run keeps in its workdir: orbax checkpoints (restored at start,
so re-running a command resumes), the fingerprint of what a finetuning run's checkpoints were made
from, and the candidates it saves for the coder.

Orbax writes each step into a temporary directory and renames it when complete, so a run killed
mid-save leaves the previous checkpoint intact.
"""
import dataclasses
import json
import pathlib
from typing import Any

import flax
import jax
import numpy as np
import orbax.checkpoint as ocp

from rdm import data
from rdm import distributed
from rdm import errors
from rdm import files


def manager(directory: str | pathlib.Path, max_to_keep: int = 2) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      pathlib.Path(directory).absolute(),
      item_handlers=ocp.StandardCheckpointHandler(),  # so that item_metadata reads the fields
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))


def restore_latest(mgr: ocp.CheckpointManager, target: Any) -> Any | None:
  """The latest saved pytree shaped like target, or None when there is none yet."""
  step = mgr.latest_step()
  if step is None:
    return None
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
  if dataclasses.is_dataclass(target):
    # A field the checkpoint lacks is restored as the target's None: checkpoints written before
    # TrainState kept a moving average (2026-12-06) have no 'ema'.
    saved = set(mgr.item_metadata(step).keys())
    names = [f.name for f in dataclasses.fields(target)]
    if all(n in saved or getattr(target, n) is None for n in names):
      fields = {n: getattr(abstract, n) for n in names if n in saved}
      return target.replace(**mgr.restore(step, args=ocp.args.StandardRestore(fields)))
  return mgr.restore(step, args=ocp.args.StandardRestore(abstract))


def save(mgr: ocp.CheckpointManager, step: int, tree: Any, wait: bool = False) -> None:
  mgr.save(step, args=ocp.args.StandardSave(tree), force=True)
  if wait:
    mgr.wait_until_finished()


# Fields that do not change what a step computes: a run may resume with other values.
RESUMABLE_FIELDS = ('steps', 'joint_steps', 'checkpoint_every', 'log_every', 'candidates')
# Fields only the coder reads, after finetuning.
CODING_FIELDS = ('prune_leaves',)
# Fields the encoder phase does not read: encoder-only runs and full runs share that phase.
JOINT_FIELDS = ('mode', 'groups', 't', 'alpha', 'sigma_slab', 'leaf_priors', 'model_rate',
                'rate_gradient', 'quantize_aware', 'delta_lr', 'joint_encoder_lr')


def run_fingerprint(config, phase: str, theta_d_hash: str, frames: np.ndarray) -> dict:
  """What a finetuning phase's checkpoints were made from: θ_D (zoo.params_hash), the I-frames
  and every setting a step depends on (step counts aside, so a finished run can be continued)."""
  ignored = RESUMABLE_FIELDS + CODING_FIELDS + (JOINT_FIELDS if phase == 'encoder' else ())
  fingerprint = {
      'phase': phase, 'theta_D': theta_d_hash,
      'frames': data.frames_digest(frames),
      'frames_shape': list(frames.shape), 'beta': config.loss.beta, 'seed': config.seed,
      'quantization': config.quantization.to_dict(),
      'adapt': {k: v for k, v in config.adapt.to_dict().items() if k not in ignored}}
  if phase == 'joint':
    # Joint checkpoints of the older start (a fresh Adam) are not continued.
    fingerprint['starts'] = 'encoder params and Adam moments'
  return json.loads(json.dumps(fingerprint))  # as fingerprint.json holds it (tuples as lists)


def check_resumable(workdir: pathlib.Path, fingerprint: dict, has_checkpoint: bool) -> None:
  """Refuse to resume checkpoints made from another model, video or setting (they would
  silently mix two runs); record the fingerprint of a new run."""
  path = workdir / 'fingerprint.json'
  if not has_checkpoint:
    if distributed.is_primary():
      files.write_json(path, fingerprint)
    return
  saved = json.loads(path.read_text()) if path.exists() else None
  if saved != fingerprint:
    differ = ('no fingerprint.json (an older rdm)' if saved is None else ', '.join(
        k for k in fingerprint if saved.get(k) != fingerprint[k]))
    raise errors.UserError(f'{workdir} holds finetuning checkpoints of another run ({differ} '
                           'differ); use a new --workdir or delete that one')


def candidate_steps(steps: int, count: int, with_start: bool) -> list[int]:
  """The steps whose state is kept as a candidate: `count` evenly spaced ones ending at
  `steps` (and step 0 when with_start)."""
  chosen = {round(steps * (i + 1) / count) for i in range(count)} - {0}
  return sorted(chosen | ({0} if with_start else set()))


def save_candidate(workdir: pathlib.Path, step: int, train_vars) -> None:
  if distributed.is_primary():
    folder = workdir / 'candidates'
    folder.mkdir(parents=True, exist_ok=True)
    files.write_atomic(folder / f'{step}.msgpack', flax.serialization.to_bytes(train_vars))


def load_candidates(workdir: pathlib.Path, template, steps: list[int]) -> list[tuple[int, Any]]:
  return [(s, flax.serialization.from_bytes(template, (workdir / 'candidates' /
                                                        f'{s}.msgpack').read_bytes()))
          for s in steps]
