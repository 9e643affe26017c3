"""Global training of θ_D on photos: L_RD = D + β·R (Ballé et al. 2018; Minnen et al. 2018)."""
import functools
import json
import pathlib
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from rdm import batching
from rdm import checkpoint
from rdm import data
from rdm import distributed
from rdm import errors
from rdm import files
from rdm import losses
from rdm import model
from rdm import trainer
from rdm import widen
from rdm import zoo


def rd_loss_fn(params, frozen, x, keys, *, arch, beta: float, rate_mode: str, decoder_mode: str):
  """L_RD of θ on a batch: the global-training objective (frozen: none, every θ is trained)."""
  del frozen
  return losses.rd_loss(trainer.batch_forward(arch, params, x, keys, rate_mode, decoder_mode), x,
                        beta)


def global_loss_fn(config, arch):
  return functools.partial(rd_loss_fn, arch=arch, beta=config.loss.beta,
                           rate_mode=config.quantization.rate,
                           decoder_mode=config.quantization.decoder)


def center_crops(images: list[np.ndarray], side: int) -> np.ndarray:
  """Equal-size centre crops so evaluation compiles once."""
  out = []
  for im in images:
    top, left = (im.shape[0] - side) // 2, (im.shape[1] - side) // 2
    out.append(im[top:top + side, left:left + side])
  return np.stack(out).astype(np.float32)


def initial_params(config, arch) -> Any:
  """θ to start from: train.init_from's, embedded in arch when that is wider (rdm.widen), else
  random."""
  source, rng = config.train.init_from, jax.random.PRNGKey(config.seed)
  if not source:
    return model.init_params(arch, rng)
  narrow = zoo.source_architecture(source)
  if narrow is None or narrow == arch:
    return zoo.load_params(source, arch)
  logging.info('widening %s (N=%d, M=%d) to N=%d, M=%d', source, narrow.N, narrow.M, arch.N,
               arch.M)
  return widen.widened(zoo.load_params(source, narrow), narrow, arch, rng)


START_RECORD = 'start.json'


def continued_member(source: str, config) -> dict | None:
  """{'steps': S, 'step_L': its held-out curve} where `source` names a shipped model exported from
  a run of this β and architecture that recorded its curve: the same ladder member, stopped (a
  sitting's end, converged or not) and shipped, which a new sitting continues from step S on.
  None for any other start."""
  if not source or source not in zoo.available():
    return None
  m = zoo.manifest(source)
  if ('heldout_curve' not in m or m['config']['loss']['beta'] != config.loss.beta
      or zoo.architecture(source) != model.Architecture.from_config(config.model)):
    return None
  return {'steps': m['steps'], 'step_L': m['heldout_curve']['step_L']}


def member_curve(workdir: pathlib.Path, beta: float, upto: int) -> dict[int, float]:
  """heldout_curve of a workdir, after the curve of the sitting it continues (its start record's
  'continues'), so that convergence and the learning-rate drop are judged across sittings."""
  before = start_record(workdir).get('continues') or {'step_L': []}
  return {**{int(k): v for k, v in before['step_L']},
          **heldout_curve(workdir / 'metrics.jsonl', beta, upto)}


def steps_behind(source: str) -> int | None:
  """Optimizer steps from scratch to the weights `source` names now (None: not recorded): a
  training workdir's latest checkpoint plus what its start record says lay behind it; a shipped
  model's steps_total; a bare parameter file records none."""
  if not source:
    return 0
  path = pathlib.Path(source)
  if path.name == zoo.EMA and (path.parent / 'checkpoints').is_dir():
    path = path.parent  # the moving average has taken the steps θ has
  if (path / 'checkpoints').is_dir():
    before = start_record(path)['steps_before']
    saved = [int(p.name) for p in (path / 'checkpoints').iterdir() if p.name.isdigit()]
    return None if before is None else max(saved, default=0) + before
  if path.suffix == '.msgpack':
    return None
  m = zoo.manifest(source)
  return m.get('steps_total', m.get('steps'))


def start_record(workdir: pathlib.Path) -> dict:
  """Where a run started, written when it started: the source may since have trained on or been
  replaced under the same name, so it is never looked up again."""
  path = workdir / START_RECORD
  if path.is_file():
    return json.loads(path.read_text())
  init_from = json.loads((workdir / 'config.json').read_text())['train']['init_from']
  if init_from:  # a run from before starts were recorded: what lay behind it is unknown
    return {'init_from': init_from, 'sha256': None, 'steps_before': None}
  return {'init_from': '', 'sha256': None, 'steps_before': 0}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       final_eval: bool = True) -> dict | None:
  """Train θ_D on photo crops; resumes from workdir's last checkpoint. Returns the final eval, or
  None with final_eval=False (a caller that evaluates θ itself, and eval_every=0, never loads the
  held-out photos) and on processes other than 0."""
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  primary = distributed.is_primary()
  if primary:
    (workdir / 'config.json').write_text(config.to_json_best_effort(indent=2) + '\n')
  cfg = config.train
  distributed.check_batch_size(cfg.batch_size)
  arch = model.Architecture.from_config(config.model)
  state = trainer.create_train_state(initial_params(config, arch), optimizer(cfg),
                                     ema=cfg.ema_decay > 0)
  mgr = checkpoint.manager(workdir / 'checkpoints')
  restored = checkpoint.restore_latest(mgr, state)
  if restored is not None:
    state = restored
    logging.info('resumed from step %d', int(state.step))
  else:
    continues = continued_member(cfg.init_from, config)
    before = steps_behind(cfg.init_from)
    if continues:
      state = trainer.at_step(state, continues['steps'])
      before = None if before is None else before - continues['steps']
      logging.info('continuing %s from its step %d', cfg.init_from, continues['steps'])
    if primary:
      files.write_json(workdir / START_RECORD, {
          'init_from': cfg.init_from, 'sha256': zoo.params_hash(state.params),
          'steps_before': before, **({'continues': continues} if continues else {})})
  start = int(state.step)
  metrics_path = workdir / 'metrics.jsonl'
  check_convergence_config(cfg)
  # Process 0 decides the drop and the stop (primary_says); only it reads the start record.
  curve = member_curve(workdir, config.loss.beta, upto=start) if primary else {}
  drop_at = decided_drop_step(curve, cfg)
  end = cfg.stop_at or cfg.steps
  if cfg.converge_window and distributed.primary_says(converged_at(curve, start, cfg, drop_at)):
    logging.info('held-out L converged by step %d; nothing to train', start)
    end = start

  devices = jax.local_device_count()
  images = data.load_photo_folder(cfg.photos, cfg.short_side, cfg.crop)
  # Process 0 alone evaluates (its decisions reach the others through primary_says).
  final_eval = final_eval and primary
  eval_images = (center_crops(data.load_photo_folder(cfg.eval_photos, cfg.eval_side,
                                                     cfg.eval_side), cfg.eval_side)
                 if primary and (final_eval or cfg.eval_every) else None)
  logging.info('%d training photos, %s eval crops, %d devices, %d params', len(images),
               'no' if eval_images is None else len(eval_images), devices,
               model.parameter_count(state.params))
  batches = batching.crop_batches(images, cfg.batch_size, cfg.crop, config.seed, start,
                                  min_scale=cfg.min_scale)
  p_step = parallel_train_step(config, arch, drop_at)
  p_state = trainer.replicate(state)
  t0, window, ev, ev_step = time.time(), [], None, None
  done = start
  for step in range(start, end):
    keys = trainer.example_keys(config.seed, step, cfg.batch_size)
    p_state, m = trainer.parallel_step(p_step, p_state, {}, devices, next(batches), keys)
    trainer.check_finite(m, step + 1)
    if primary:  # only process 0 logs, so only it collects (and empties) the window
      window.append(m)
    done = step + 1
    if primary and (done % cfg.log_every == 0 or done == cfg.steps):
      rate = (done - start) / (time.time() - t0)
      mean = {f'train_{k}': float(np.mean([w[k] for w in window])) for k in window[0]}
      record = {'step': done, 'steps_per_s': rate, 'wall_s': time.time() - t0, **mean}
      trainer.log_line(metrics_path, record)
      logging.info('step %d/%d  loss %.2f  bpp %.3f  psnr %.2f  %.2f steps/s  ETA %.0f min',
                   done, cfg.steps, mean['train_loss'], mean['train_bpp'], mean['train_psnr'],
                   rate, (cfg.steps - done) / rate / 60)
      window = []
    if primary and ((cfg.eval_every and done % cfg.eval_every == 0)
                    or (final_eval and done == cfg.steps)):
      ev, ev_step = evaluate_with_ema(arch, trainer.host_state(p_state), eval_images), done
      trainer.log_line(metrics_path, {'step': done, **{f'eval_{k}': v for k, v in ev.items()}})
      curve[done] = heldout_objective(ev, config.loss.beta)
      logging.info('eval step %d: bpp %.3f psnr %.2f L %.2f (estimated bits)', done, ev['bpp'],
                   ev['psnr'], curve[done])
    at_eval = bool(cfg.converge_window) and done % cfg.eval_every == 0
    if at_eval and not drop_at:
      drop_at = decided_drop_step(curve, cfg)
      if drop_at:
        p_step = parallel_train_step(config, arch, drop_at)
    converged = at_eval and distributed.primary_says(converged_at(curve, done, cfg, drop_at))
    at_checkpoint = done % cfg.checkpoint_every == 0
    out_of_time = at_checkpoint and distributed.primary_says(out_of_time_at(cfg, time.time()))
    if at_checkpoint or done in (cfg.steps, cfg.stop_at) or converged:
      checkpoint.save(mgr, done, trainer.host_state(p_state))
    if converged and primary:
      logging.info('held-out L converged at step %d: %.2f (%.2f at step %d)', done,
                   curve[done], curve[done - cfg.converge_window], done - cfg.converge_window)
    if out_of_time and primary:
      logging.info('train.stop_by passed: the sitting ends at step %d', done)
    if converged or out_of_time:
      break
  mgr.wait_until_finished()
  if final_eval and ev_step != done:
    ev = evaluate_with_ema(arch, trainer.host_state(p_state), eval_images)
  return ev if final_eval else None


def out_of_time_at(cfg, now: float) -> bool:
  """Whether a sitting with train.stop_by ends at this checkpoint."""
  return bool(cfg.stop_by) and now >= cfg.stop_by


def heldout_objective(ev: dict, beta: float) -> float:
  """Held-out L = D + β·R (estimated bits) of the better of θ and its moving average: the one an
  export would ship."""
  return min(losses.rd_objective(ev[f'{p}mse'], ev[f'{p}bpp'], beta)
             for p in ('', 'ema_') if f'{p}mse' in ev)


def heldout_curve(metrics_path: pathlib.Path, beta: float, upto: int) -> dict[int, float]:
  """{step: held-out L} of a workdir's evaluations up to step `upto` (lines past it are from
  steps a kill lost, done again)."""
  if not metrics_path.is_file():
    return {}
  curve = {}
  for line in metrics_path.read_text().splitlines():
    record = json.loads(line)
    if 'eval_mse' in record and record['step'] <= upto:
      ev = {k.removeprefix('eval_'): v for k, v in record.items()}
      curve[record['step']] = heldout_objective(ev, beta)
  return curve


def has_converged(curve: dict[int, float], step: int, window: int, tol: float) -> bool:
  """Whether held-out L at `step` is within a relative `tol` of its value `window` steps earlier
  (window 0: never; training runs to train.steps)."""
  if not window or step not in curve or step - window not in curve:
    return False
  return abs(curve[step] - curve[step - window]) <= tol * curve[step - window]


def lr_drop_step(curve: dict[int, float], window: int, tol: float) -> int:
  """The first evaluated step at which held-out L had moved by at most `tol` over `window` steps:
  where the learning rate drops (0: nowhere yet, or tol 0)."""
  return next((step for step in sorted(curve) if tol and has_converged(curve, step, window, tol)),
              0)


def decided_drop_step(curve: dict[int, float], cfg) -> int:
  """lr_drop_step of the curve so far under train.lr_drop_tol, as process 0 sees it (0: no drop
  yet, or none configured); a run resumed past the drop finds the same step."""
  if not cfg.lr_drop_tol:
    return 0
  drop_at = distributed.primary_says(lr_drop_step(curve, cfg.converge_window, cfg.lr_drop_tol))
  if drop_at:
    logging.info('learning rate × %g from step %d (held-out L moved by ≤ %g over %d steps there)',
                 cfg.lr_drop_factor, drop_at, cfg.lr_drop_tol, cfg.converge_window)
  return drop_at


def converged_at(curve: dict[int, float], step: int, cfg, drop_at: int) -> bool:
  """Whether training stops at `step`: held-out L converged (train.converge_*) over a window that,
  when the learning rate is to drop (train.lr_drop_tol), starts at the lowered rate."""
  after_drop = not cfg.lr_drop_tol or (drop_at and step - cfg.converge_window >= drop_at)
  return bool(after_drop) and has_converged(curve, step, cfg.converge_window, cfg.converge_tol)


def optimizer(cfg, drop_at: int = 0):
  """Adam on train's schedule, the learning rate dropped from step drop_at (0: not)."""
  return trainer.make_optimizer(cfg.lr, cfg.warmup_steps, cfg.steps, cfg.end_lr / cfg.lr,
                                cfg.grad_clip, drop_at, cfg.lr_drop_factor)


def parallel_train_step(config, arch, drop_at: int):
  """The pmapped global-training step, its learning rate dropped from step drop_at (0: not)."""
  return trainer.make_parallel_step(global_loss_fn(config, arch), optimizer(config.train, drop_at),
                                    ema_decay=config.train.ema_decay)


def check_convergence_config(cfg) -> None:
  if cfg.converge_window and (not cfg.eval_every or cfg.converge_window % cfg.eval_every):
    raise errors.ConfigError(f'train.converge_window={cfg.converge_window} needs held-out '
                             f'evaluations at its ends: train.eval_every (now {cfg.eval_every}) '
                             'must divide it')
  if cfg.lr_drop_tol and not cfg.converge_window:
    raise errors.ConfigError(f'train.lr_drop_tol={cfg.lr_drop_tol} is judged over '
                             'train.converge_window steps, which is 0')


def evaluate_with_ema(arch, state: trainer.TrainState, images) -> dict:
  """losses.evaluate of θ, and of its moving average as ema_* beside it."""
  ev = losses.evaluate(arch, state.params, images)
  if state.ema is not None:
    ev.update({f'ema_{k}': v for k, v in losses.evaluate(arch, state.ema, images).items()})
  return ev
