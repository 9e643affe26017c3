"""θ_D on a lent accelerator, in one command that ends inside the device's 10-minute limit.

From the repository root, on the device (Python 3.12, a current jax, flax, optax, orbax, no
TensorFlow, no network), carrying data/pack (scripts/pack_photos.py) and, to resume, the folder an
earlier run returned. rdm installs from the checkout as everywhere else, without dependencies;
the few packages the image lacks (ml_collections, tqdm, constriction for Python 3.12, and
setuptools to build rdm) travel as wheels in scripts/wheels:

    pip install -q --no-deps --no-index scripts/wheels/*.whl \
      && pip install -q --no-deps --no-index --no-build-isolation . \
      && python3 scripts/device_train.py --out "$OUT" [--resume runs/device/last | --init SOURCE]

--init starts the first sitting from θ trained elsewhere (a shipped model name, a training workdir
or a .msgpack file that travels with the tree), e.g. `--config=configs/global.py --init
msh-n64-beta128` continues the CPU-sized θ_D.

It prints the devices and versions, measures steps/s of global training and of full-model
finetuning at the config's scale, sizes one cosine schedule to the time left (fresh Adam with a
warm-up when resuming: moments do not travel), trains, evaluates on the held-out photos and
writes to --out at most 5 files, each under the 16 MiB a device run returns:
  params_bf16.msgpack  θ in bfloat16 (paper scale: ~14 MB; float32 would not come back whole,
                       nor go out again beside the repository's 64 MiB)
  ema_bf16.msgpack     its moving average over this sitting (train.ema_decay > 0), the same way
  state.json           steps (this sitting, in all), speeds, peak memory, eval, versions
  metrics.jsonl        every sitting's training and eval lines
  report.txt           what was printed
--config.a.b=v overrides fields of the training config, --adapt_config.a.b=v those of the
finetuning probe (the CPU dry run in tests/test_device_train.py shrinks the model so).
"""
import contextlib
import io
import json
import pathlib
import resource
import sys
import tempfile
import time

from absl import app
from absl import flags
import flax
import jax
import jax.numpy as jnp
import numpy as np

from rdm import configuration, data, files, finetune, losses, model, train, zoo

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line (defined only when run, so tests may import this module)."""
  configuration.define_config_flag('global_paper.py',
                                   help_text='the training config (a configs/*.py file)')
  configuration.define_config_flag(
      'xiph_beta.py', 'adapt_config',
      'the finetuning probe\'s config (its model and β are the training config\'s)')
  flags.DEFINE_string('out', None, 'the folder to return', required=True)
  flags.DEFINE_string('resume', None, 'a folder an earlier run returned')
  flags.DEFINE_string('init', '', 'θ to start from: a shipped model name, a training '
                      'workdir or a .msgpack file')
  flags.DEFINE_string('photos', 'data/pack', 'scripts/pack_photos.py\'s folder')
  flags.DEFINE_float('budget_s', 540.0, 'wall time this command may use')
  flags.DEFINE_integer('probe_steps', 40, 'steps of each speed probe')
  flags.register_multi_flags_validator(
      ['resume', 'init'], lambda f: not (f['resume'] and f['init']),
      '--resume and --init exclude each other')


RESERVE_S = 60  # evaluation, export and the unknown: what the schedule leaves unused
RESERVE_SHARE = 0.4  # of a short budget (the CPU dry run, whose speed probe may see another
# test's load come and go: 0.2 overran 100 s by 10 s under pytest-xdist)


def load_configs(config, adapt_config, photos: pathlib.Path):
  """(the training config on the packed photos, the probe's adaptation config at its model and
  β)."""
  c = configuration.with_fields(config, {'train.photos': str(photos / 'train'),
                                         'train.eval_photos': str(photos / 'eval')})
  a = configuration.with_fields(adapt_config, {'model.N': c.model.N, 'model.M': c.model.M,
                                               'loss.beta': c.loss.beta})
  return c, a


def peak_memory_mb() -> float:
  """Peak accelerator memory in use, or the process's peak RSS where the device has no stats."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    return stats['peak_bytes_in_use'] / 2 ** 20
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rate_between(lines: list) -> float:
  """steps/s between the first and the last metric line (the first absorbs compilation)."""
  first, last = lines[0], lines[-1]
  return (last['step'] - first['step']) / (last['wall_s'] - first['wall_s'])


def global_speed(config, workdir: pathlib.Path, probe_steps: int) -> float:
  """steps/s of the global-training step at the config's scale."""
  with config.unlocked():
    config.train.update(steps=probe_steps, log_every=max(1, probe_steps // 4),
                        checkpoint_every=10 ** 9, eval_every=0)
  train.train_and_evaluate(config, str(workdir), final_eval=False)
  lines = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  return rate_between([l for l in lines if 'train_loss' in l])


def finetune_speed(config, params, photos: pathlib.Path, probe_steps: int) -> float:
  """steps/s of full-model finetuning (the joint phase) at the config's scale, on 4 frames cut
  from a held-out photo (no video decoder on the device)."""
  arch = model.Architecture.from_config(config.model)
  image = data.load_image(data.list_images(photos / 'eval')[0])
  h, w = min(image.shape[0], 272), min(image.shape[1], 640)
  frames = np.stack([np.roll(image, 16 * i, axis=1)[:h, :w] for i in range(4)])
  with config.unlocked():
    config.adapt.update(log_every=max(1, probe_steps // 4), checkpoint_every=10 ** 9)
  initial = finetune.joint_vars(params, config.adapt.groups)
  with tempfile.TemporaryDirectory() as workdir:
    _, history, _ = finetune.finetune_phase(config, 'joint', arch, params, frames,
                                            pathlib.Path(workdir), initial, probe_steps)
  first, last = history[0], history[-1]
  return (last['step'] - first['step']) / (last['time_s'] - first['time_s'])


RETURNED_PARAMS = 'params_bf16.msgpack'  # θ as a run returns it, beside its state.json
RETURNED_EMA = 'ema_bf16.msgpack'  # its moving average over the sitting


def returned_state(folder: pathlib.Path) -> dict:
  """The state.json a run returned: its config, steps (steps_total: from scratch), sittings."""
  return json.loads((folder / 'state.json').read_text())


def steps_behind(init: str) -> int | None:
  """Optimizer steps behind --init: a params file with its run's state.json beside it (a folder a
  run returned, or weights trained elsewhere) says so; otherwise train.steps_behind."""
  state = pathlib.Path(init).with_name('state.json') if init.endswith('.msgpack') else None
  if state is not None and state.is_file():
    return json.loads(state.read_text())['steps_total']
  return train.steps_behind(init)


def returned_params(params):
  """θ as it comes back: bfloat16 (a paper-scale float32 θ would not fit a returned file)."""
  return jax.tree_util.tree_map(lambda x: np.asarray(x, jnp.bfloat16), params)


def heldout_eval(config, arch, params) -> dict:
  """losses.evaluate of the returned θ at float32 precision: a GPU's default (TF32) convolutions
  read 30.27 dB where the same weights give 30.39 on the CPU (WORKSPACE.md)."""
  c = config.train
  photos = data.load_photo_folder(c.eval_photos, c.eval_side, c.eval_side)
  with jax.default_matmul_precision('highest'):
    return losses.evaluate(arch, zoo.as_float32(params), train.center_crops(photos, c.eval_side))


def export(out: pathlib.Path, params, ema, state: dict, metrics: list, report: str) -> None:
  out.mkdir(parents=True, exist_ok=True)
  (out / RETURNED_PARAMS).write_bytes(flax.serialization.to_bytes(params))
  if ema is not None:
    (out / RETURNED_EMA).write_bytes(flax.serialization.to_bytes(ema))
  files.write_json(out / 'state.json', state)
  (out / 'metrics.jsonl').write_text(''.join(json.dumps(m) + '\n' for m in metrics))
  (out / 'report.txt').write_text(report)


def main(argv):
  del argv
  out, photos = pathlib.Path(FLAGS.out), pathlib.Path(FLAGS.photos)
  resume = FLAGS.resume and pathlib.Path(FLAGS.resume)
  start = time.time()
  log = io.StringIO()

  def say(text: str) -> None:
    print(text, flush=True)
    log.write(text + '\n')

  config, adapt_config = load_configs(FLAGS.config, FLAGS.adapt_config, photos)
  arch = model.Architecture.from_config(config.model)
  init = str(resume / RETURNED_PARAMS) if resume else FLAGS.init
  steps_before = steps_behind(init)
  sittings_before = returned_state(resume)['sittings'] if resume else 0
  say(f'devices: {jax.devices()}; jax {jax.__version__}, flax {flax.__version__}, '
      f'python {sys.version.split()[0]}')
  with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    with config.unlocked():
      config.train.init_from = init
    params = train.initial_params(config, arch)
    started_from = {'init_from': init, 'sha256': zoo.params_hash(params) if init else None,
                    'steps_before': steps_before}
    say(f'model N={arch.N} M={arch.M}: {model.parameter_count(params):,} parameters; ' +
        (f'starting from {init} ({steps_before} steps behind it)' if init else 'from scratch'))
    with contextlib.redirect_stderr(io.StringIO()):
      speed = global_speed(config.copy_and_resolve_references(), tmp / 'probe', FLAGS.probe_steps)
    say(f'global training: {speed:.2f} steps/s (batch {config.train.batch_size} × '
        f'{config.train.crop}²)')
    with contextlib.redirect_stderr(io.StringIO()):
      adapt_speed = finetune_speed(adapt_config, params, photos, max(4, FLAGS.probe_steps // 4))
    say(f'full-model finetuning: {adapt_speed:.2f} steps/s (batch {adapt_config.adapt.batch_size} '
        'whole 640×272 frames)')
    left = FLAGS.budget_s - (time.time() - start) - min(RESERVE_S, RESERVE_SHARE * FLAGS.budget_s)
    fit = int(speed * left * 0.9)  # compilation of the real run comes out of the same budget
    if fit < 2 * config.train.warmup_steps:
      raise SystemExit(f'only {fit} steps fit in the {left:.0f} s left: raise --budget_s')
    # The speed probe cannot see a slowdown to come: the run also stops at its first checkpoint
    # past the time its schedule was sized to (train.stop_by), which leaves the reserve whole.
    log_every = max(1, fit // 40)
    with config.unlocked():
      config.train.update(steps=fit, checkpoint_every=4 * log_every, eval_every=0,
                          log_every=log_every, stop_by=int(time.time() + left))
    say(f'training {fit} steps (cosine over them; {left:.0f} s left for it)')
    workdir = tmp / 'run'
    train.train_and_evaluate(config, str(workdir), final_eval=False)
    params = returned_params(zoo.load_params(str(workdir), arch))
    ema = (returned_params(zoo.load_params(str(workdir / zoo.EMA), arch))
           if config.train.ema_decay else None)
    ev = heldout_eval(config, arch, params)
    if ema is not None:
      ev.update({f'ema_{k}': v for k, v in heldout_eval(config, arch, ema).items()})
    lines = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  done = lines[-1]['step'] if lines else 0
  if done < fit:
    say(f'stopped at step {done} of {fit}: the time sized for the schedule ran out')
  old = (resume / 'metrics.jsonl').read_text().splitlines() if resume else []
  offset = steps_before or 0  # None: what lay behind --init is not recorded
  metrics = [json.loads(l) for l in old] + [{**l, 'step': l['step'] + offset,
                                             'sitting': sittings_before + 1} for l in lines]
  state = {'steps_this_sitting': done,
           'steps_total': None if steps_before is None else offset + done,
           'started_from': started_from,
           'sittings': sittings_before + 1, 'config': json.loads(config.to_json()),
           'global_steps_per_s': speed, 'finetune_steps_per_s': adapt_speed,
           'peak_memory_mb': peak_memory_mb(), 'eval': ev, 'devices': str(jax.devices()),
           'jax': jax.__version__, 'flax': flax.__version__, 'wall_s': time.time() - start}
  say(f'held-out photos (estimated bits): {ev["bpp"]:.4f} bpp, {ev["psnr"]:.2f} dB after '
      f'{state["steps_total"]} steps in all; peak memory {state["peak_memory_mb"]:.0f} MB; '
      f'{time.time() - start:.0f} s')
  export(out, params, ema, state, metrics, log.getvalue())
  say(f'wrote {", ".join(sorted(p.name for p in out.iterdir()))} to {out}')


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=configuration.parse_flags)
