"""Global training of θ_D on photos: L_RD = D + β·R (Ballé et al. 2018; Minnen et al. 2018)."""
import functools
import json
import pathlib
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rdm import checkpoint
from rdm import data
from rdm import distributed
from rdm import losses
from rdm import model
from rdm import zoo

AXIS = 'devices'  # the one pmap axis: data parallel over local devices


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def make_optimizer(cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam, linear warm-up then cosine decay to end_lr, with global-norm clipping."""
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, cfg.lr, cfg.warmup_steps, max(cfg.steps, cfg.warmup_steps + 1), cfg.end_lr)
  return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), optax.adam(schedule))


def create_train_state(params, tx: optax.GradientTransformation) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def batch_forward(arch: model.Architecture, params, x: jax.Array, keys: jax.Array,
                  rate_mode: str, decoder_mode: str) -> model.Forward:
  """forward() with one noise key per example, so the noise an example gets does not depend on
  how the batch is split over devices (pmap and jit then take the same step)."""
  per_example = jax.vmap(
      lambda xi, k: model.forward(arch, params, xi[None], k, rate_mode, decoder_mode))(x, keys)
  return model.Forward(
      x_hat=per_example.x_hat[:, 0], y=per_example.y[:, 0], y_hat=per_example.y_hat[:, 0],
      z=per_example.z[:, 0], bits_y=jnp.sum(per_example.bits_y),
      bits_z=jnp.sum(per_example.bits_z))


def rd_loss_fn(params, x, keys, *, arch, beta: float, rate_mode: str, decoder_mode: str):
  """L_RD of θ on a batch: the global-training objective."""
  return losses.rd_loss(batch_forward(arch, params, x, keys, rate_mode, decoder_mode), x, beta)


def train_step(state: TrainState, x: jax.Array, keys: jax.Array, *, loss_fn, tx,
               axis_name: str | None = None):
  """One optimizer step on loss_fn(state.params, x, keys) -> (loss, metrics)."""
  (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, x, keys)
  if axis_name is not None:
    # Equal shards per device, so the mean of per-device means is the full-batch mean.
    grads = jax.lax.pmean(grads, axis_name)
    metrics = jax.lax.pmean(metrics, axis_name)
  metrics['l2_grads'] = optax.tree_utils.tree_norm(grads)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  return TrainState(state.step + 1, params, opt_state), metrics


def ordered_train_step(state: TrainState, x: jax.Array, keys: jax.Array, weights: jax.Array, *,
                       loss_fn, tx, axis_name: str | None = None):
  """train_step whose result does not depend on how the batch is split over devices and
  processes, bit for bit: per-example gradients (each of the same batch-1 shape everywhere) are
  gathered in example order and summed one by one, Σ w_i ∇ℓ_i. w_i = 1/B, and 0 for the copies
  that pad a batch to a multiple of the device count (they add an exact 0). Both loops are
  unrolled in Python (batches here are a few examples): as lax.map / fori_loop they made XLA's
  CPU backend 5× slower."""
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  per_example = [grad_fn(state.params, x[i:i + 1], keys[i:i + 1]) for i in range(x.shape[0])]
  grads = jax.tree_util.tree_map(lambda *g: jnp.stack(g), *[g for _, g in per_example])
  metrics = jax.tree_util.tree_map(lambda *m: jnp.stack(m), *[m for (_, m), _ in per_example])
  if axis_name is not None:
    grads, metrics, weights = jax.lax.all_gather((grads, metrics, weights), axis_name, tiled=True)
  total = jax.tree_util.tree_map(lambda g: weights[0] * g[0], grads)
  for i in range(1, weights.shape[0]):
    total = jax.tree_util.tree_map(lambda t, g, i=i: t + weights[i] * g[i], total, grads)
  metrics = {k: sum(weights[i] * m[i] for i in range(weights.shape[0])) for k, m in metrics.items()}
  metrics['l2_grads'] = optax.tree_utils.tree_norm(total)
  updates, opt_state = tx.update(total, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  return TrainState(state.step + 1, params, opt_state), metrics


def padded_batch(x: np.ndarray, keys, devices: int):
  """(x, keys, w) padded with weight-0 copies of the first example to a multiple of devices."""
  keys = np.asarray(keys)
  pad = -len(x) % devices
  weights = np.r_[np.full(len(x), 1.0 / len(x)), np.zeros(pad)].astype(np.float32)
  return (np.concatenate([x, np.repeat(x[:1], pad, 0)]),
          np.concatenate([keys, np.repeat(keys[:1], pad, 0)]), weights)


def replicate(tree):
  """One copy of every leaf per local device, laid out for the pmapped step. Not flax's
  replicate: on newer flax it names its mesh axis otherwise than pmap's output, and the second
  step recompiles (shared/GPU-NOTES.md)."""
  devices = jax.local_devices()
  sharding = NamedSharding(Mesh(np.array(devices), (AXIS,)), PartitionSpec(AXIS))
  return jax.tree_util.tree_map(
      lambda x: jax.device_put(np.stack([np.asarray(x)] * len(devices)), sharding), tree)


def make_parallel_step(loss_fn, tx, step_fn=train_step):
  """step_fn pmapped over all local devices (one device is the same code path)."""
  step = functools.partial(step_fn, loss_fn=loss_fn, tx=tx, axis_name=AXIS)
  return jax.pmap(step, axis_name=AXIS, donate_argnums=0)


def global_loss_fn(config, arch):
  return functools.partial(rd_loss_fn, arch=arch, beta=config.loss.beta,
                           rate_mode=config.quantization.rate,
                           decoder_mode=config.quantization.decoder)


def shard(x: np.ndarray, devices: int) -> np.ndarray:
  """[B, ...] → [devices, B/devices, ...]."""
  if x.shape[0] % devices:
    raise ValueError(f'batch size {x.shape[0]} is not divisible by {devices} devices')
  return x.reshape(devices, x.shape[0] // devices, *x.shape[1:])


def parallel_step(p_step, p_state, devices: int, *global_batch):
  """One pmapped step on this process's rows of the global batch (x, keys[, weights]); metrics
  as host floats (identical on every process: the step reduces over all of them)."""
  local = [shard(distributed.local_rows(np.asarray(a)), devices) for a in global_batch]
  p_state, m = p_step(p_state, *local)
  return p_state, {k: float(v[0]) for k, v in jax.device_get(m).items()}


def host_state(p_state):
  """The replicated state as host numpy arrays: what checkpoints store (every process holds
  the same values, so orbax writes them once, from process 0)."""
  return jax.device_get(jax.tree_util.tree_map(lambda x: x[0], p_state))


def example_keys(seed: int, step: int, batch_size: int) -> jax.Array:
  return jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), step), batch_size)


def check_finite(metrics: dict, step: int) -> None:
  bad = sorted(k for k, v in metrics.items() if not np.isfinite(v))
  if bad:
    raise FloatingPointError(f'non-finite {", ".join(bad)} at step {step}: stopping '
                             '(the last checkpoint is intact; lower the learning rate)')


def center_crops(images: list[np.ndarray], side: int) -> np.ndarray:
  """Equal-size centre crops so evaluation compiles once."""
  out = []
  for im in images:
    top, left = (im.shape[0] - side) // 2, (im.shape[1] - side) // 2
    out.append(im[top:top + side, left:left + side])
  return np.stack(out).astype(np.float32)


def evaluate(arch, params, images: np.ndarray) -> dict:
  """Estimated bpp and PSNR with rounded latents (the model's estimate, not coded bytes)."""
  fwd = jax.jit(lambda p, x: model.forward(arch, p, x, None, 'round', 'round'))(params, images)
  x_hat = jnp.clip(jnp.round(fwd.x_hat), 0, 255)
  _, m = losses.rd_loss(fwd.replace(x_hat=x_hat), jnp.asarray(images), 0.0)
  return {k: float(v) for k, v in m.items() if k != 'loss'}


def initial_params(config, arch) -> Any:
  if config.train.init_from:
    return zoo.load_params(config.train.init_from, arch)
  return model.init_params(arch, jax.random.PRNGKey(config.seed))


def log_line(path: pathlib.Path, record: dict) -> None:
  with path.open('a') as f:
    f.write(json.dumps(record) + '\n')


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Train θ_D on photo crops; resumes from workdir's last checkpoint. Returns final eval."""
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  primary = distributed.is_primary()
  if primary:
    (workdir / 'config.json').write_text(config.to_json_best_effort(indent=2) + '\n')
  cfg = config.train
  distributed.check_batch_size(cfg.batch_size)
  arch = model.Architecture(config.model.N, config.model.M)
  tx = make_optimizer(cfg)
  state = create_train_state(initial_params(config, arch), tx)
  mgr = checkpoint.manager(workdir / 'checkpoints')
  restored = checkpoint.restore_latest(mgr, state)
  if restored is not None:
    state = restored
    logging.info('resumed from step %d', int(state.step))
  start = int(state.step)

  devices = jax.local_device_count()
  images = data.load_photo_folder(cfg.photos, cfg.short_side, cfg.crop)
  eval_images = center_crops(data.load_photo_folder(cfg.eval_photos, cfg.short_side,
                                                    cfg.short_side), cfg.short_side)
  logging.info('%d training photos, %d eval crops, %d devices, %d params', len(images),
               len(eval_images), devices, model.parameter_count(state.params))
  batches = data.crop_batches(images, cfg.batch_size, cfg.crop, config.seed, start)
  p_step = make_parallel_step(global_loss_fn(config, arch), tx)
  p_state = replicate(state)
  metrics_path = workdir / 'metrics.jsonl'
  t0, window = time.time(), []
  for step in range(start, cfg.stop_at or cfg.steps):
    keys = example_keys(config.seed, step, cfg.batch_size)
    p_state, m = parallel_step(p_step, p_state, devices, next(batches), keys)
    check_finite(m, step + 1)
    if primary:  # only process 0 logs, so only it collects (and empties) the window
      window.append(m)
    done = step + 1
    if primary and (done % cfg.log_every == 0 or done == cfg.steps):
      rate = (done - start) / (time.time() - t0)
      mean = {f'train_{k}': float(np.mean([w[k] for w in window])) for k in window[0]}
      record = {'step': done, 'steps_per_s': rate, 'wall_s': time.time() - t0, **mean}
      log_line(metrics_path, record)
      logging.info('step %d/%d  loss %.2f  bpp %.3f  psnr %.2f  %.2f steps/s  ETA %.0f min',
                   done, cfg.steps, mean['train_loss'], mean['train_bpp'], mean['train_psnr'],
                   rate, (cfg.steps - done) / rate / 60)
      window = []
    if done % cfg.checkpoint_every == 0 or done in (cfg.steps, cfg.stop_at):
      checkpoint.save(mgr, done, host_state(p_state))
    if primary and ((cfg.eval_every and done % cfg.eval_every == 0) or done == cfg.steps):
      ev = evaluate(arch, host_state(p_state).params, eval_images)
      log_line(metrics_path, {'step': done, **{f'eval_{k}': v for k, v in ev.items()}})
      logging.info('eval step %d: bpp %.3f psnr %.2f (estimated bits)', done, ev['bpp'],
                   ev['psnr'])
  mgr.wait_until_finished()
  return evaluate(arch, host_state(p_state).params, eval_images)
