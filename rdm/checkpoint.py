"""Orbax checkpoints under a workdir: restore-at-start so re-running a command resumes.

Orbax writes each step into a temporary directory and renames it when complete, so a run killed
mid-save leaves the previous checkpoint intact.
"""
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp


def manager(directory: str | pathlib.Path, max_to_keep: int = 2) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      pathlib.Path(directory).absolute(),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))


def restore_latest(mgr: ocp.CheckpointManager, target: Any) -> Any | None:
  """The latest saved pytree shaped like target, or None when there is none yet."""
  step = mgr.latest_step()
  if step is None:
    return None
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
  return mgr.restore(step, args=ocp.args.StandardRestore(abstract))


def save(mgr: ocp.CheckpointManager, step: int, tree: Any, wait: bool = False) -> None:
  mgr.save(step, args=ocp.args.StandardSave(tree), force=True)
  if wait:
    mgr.wait_until_finished()
