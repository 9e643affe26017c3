"""The step library of global training and finetuning: train state, optimizer, the pmapped
and the device-count-independent steps, batches over devices and processes, metric lines."""
import functools
import json
import pathlib
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rdm import distributed
from rdm import errors
from rdm import model

AXIS = 'devices'  # the one pmap axis: data parallel over local devices


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  ema: Any = None  # a moving average of params (global training's train.ema_decay), or None


def ema_update(ema, params, step, decay: float):
  """The moving average after `step` steps: decay min(d, (1 + n)/(10 + n)) (TensorFlow's
  ExponentialMovingAverage with num_updates), so the early average follows θ closely."""
  d = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
  return jax.tree_util.tree_map(lambda e, p: d * e + (1.0 - d) * p, ema, params)


def next_state(state: TrainState, params, opt_state, ema_decay: float) -> TrainState:
  ema = None if state.ema is None else ema_update(state.ema, params, state.step + 1, ema_decay)
  return TrainState(state.step + 1, params, opt_state, ema)


def schedule(peak: float, warmup_steps: int, steps: int, end_factor: float, drop_at: int = 0,
             drop_factor: float = 1.0):
  """Linear warm-up from 0 to peak, then cosine decay to end_factor × peak at `steps`; from step
  drop_at on (0: never) all of it times drop_factor."""
  lr = optax.warmup_cosine_decay_schedule(0.0, peak, warmup_steps, max(steps, warmup_steps + 1),
                                          peak * end_factor)
  if not drop_at:
    return lr
  return lambda count: lr(count) * jnp.where(count >= drop_at, drop_factor, 1.0)


def make_optimizer(peak_lr: float | dict, warmup_steps: int, steps: int, end_factor: float,
                   grad_clip: float = 0.0, drop_at: int = 0,
                   drop_factor: float = 1.0) -> optax.GradientTransformation:
  """Adam on schedule(); peak_lr a dict gives each top-level key of the trained pytree its own
  peak (finetuning: the encoder and δ). grad_clip > 0 clips the global gradient norm first.
  The optimizer state's structure does not depend on the schedule, so a state carries over to
  the same optimizer with another drop_at."""
  def adam(lr):
    return optax.adam(schedule(lr, warmup_steps, steps, end_factor, drop_at, drop_factor))
  tx = (optax.multi_transform({k: adam(lr) for k, lr in peak_lr.items()},
                              lambda tree: {k: k for k in tree})
        if isinstance(peak_lr, dict) else adam(peak_lr))
  return optax.chain(optax.clip_by_global_norm(grad_clip), tx) if grad_clip else tx


def create_train_state(params, tx: optax.GradientTransformation, ema: bool = False) -> TrainState:
  """Step 0; ema: keep a moving average of params, starting at params."""
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                    ema=jax.tree_util.tree_map(jnp.array, params) if ema else None)


def at_step(state: TrainState, step: int) -> TrainState:
  """state with its step and its learning-rate schedules' counts at `step`, Adam's moments and
  their bias correction as new: a sitting that continues a model exported at `step` goes on
  along the same schedule (past its warm-up, at a learning rate dropped before it)."""
  def is_schedule(x):
    return isinstance(x, optax.ScaleByScheduleState)

  def advance(s):
    return s._replace(count=jnp.asarray(step, s.count.dtype)) if is_schedule(s) else s
  return state.replace(step=jnp.asarray(step, state.step.dtype),
                       opt_state=jax.tree_util.tree_map(advance, state.opt_state,
                                                        is_leaf=is_schedule))


def carry_adam_moments(opt_state, previous):
  """opt_state with previous's Adam moments (μ, ν and their count) wherever both hold an Adam
  state at the same place, for the parameters previous trained: a phase that goes on training
  them keeps their gradient statistics (a fresh Adam's first steps move every weight by about
  the learning rate), while its learning-rate schedule starts anew."""
  def is_adam(x):
    return isinstance(x, optax.ScaleByAdamState)

  def trained(moments):
    return {k: v for k, v in moments.items() if not isinstance(v, optax.MaskedNode)}

  old = {jax.tree_util.keystr(p): s for p, s in
         jax.tree_util.tree_flatten_with_path(previous, is_leaf=is_adam)[0] if is_adam(s)}

  def carry(path, s):
    o = old.get(jax.tree_util.keystr(path)) if is_adam(s) else None
    if o is None:
      return s
    return s._replace(count=o.count, mu={**s.mu, **trained(o.mu)}, nu={**s.nu, **trained(o.nu)})
  return jax.tree_util.tree_map_with_path(carry, opt_state, is_leaf=is_adam)


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


def train_step(state: TrainState, frozen, x: jax.Array, keys: jax.Array, *, loss_fn, tx,
               axis_name: str | None = None, ema_decay: float = 0.0):
  """One optimizer step on loss_fn(state.params, frozen, x, keys) -> (loss, metrics). frozen:
  arrays the loss reads but does not train (θ_D while adapting), an argument of the compiled
  step so that XLA does not fold them into it as constants. A state with an ema moves it."""
  (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, frozen, x, keys)
  if axis_name is not None:
    # Equal shards per device, so the mean of per-device means is the full-batch mean.
    grads = jax.lax.pmean(grads, axis_name)
    metrics = jax.lax.pmean(metrics, axis_name)
  metrics['l2_grads'] = optax.tree_utils.tree_norm(grads)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  return next_state(state, params, opt_state, ema_decay), metrics


def ordered_train_step(state: TrainState, frozen, x: jax.Array, keys: jax.Array,
                       weights: jax.Array, *, loss_fn, tx, axis_name: str | None = None,
                       ema_decay: float = 0.0):
  """train_step that does not depend on how the batch is split over devices and processes:
  per-example gradients (each of the same batch-1 shape everywhere) are gathered in example
  order and summed one by one, Σ w_i ∇ℓ_i. w_i = 1/B, and 0 for the copies that pad a batch to
  a multiple of the device count (they add an exact 0). Bit for bit only as far as XLA compiles
  the per-example gradient alike in the programs of each split: measured, the hyperprior's
  gradients can differ by 1 ulp (tiny model, joint step 4), which a long run amplifies. Both
  loops are unrolled in Python (batches here are a few examples): as lax.map / fori_loop they
  made XLA's CPU backend 5× slower. The per-example gradient is jitted so that it is traced
  once, not once per example (tracing the full model's loss takes seconds)."""
  grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
  per_example = [grad_fn(state.params, frozen, x[i:i + 1], keys[i:i + 1])
                 for i in range(x.shape[0])]
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
  return next_state(state, params, opt_state, ema_decay), metrics


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


def make_parallel_step(loss_fn, tx, step_fn=train_step, ema_decay: float = 0.0):
  """step_fn pmapped over all local devices (one device is the same code path); the state and
  the frozen arrays it takes are replicate()d, the batch shard()ed."""
  step = functools.partial(step_fn, loss_fn=loss_fn, tx=tx, axis_name=AXIS, ema_decay=ema_decay)
  return jax.pmap(step, axis_name=AXIS, donate_argnums=0)


def shard(x: np.ndarray, devices: int) -> np.ndarray:
  """[B, ...] → [devices, B/devices, ...]."""
  if x.shape[0] % devices:
    raise ValueError(f'batch size {x.shape[0]} is not divisible by {devices} devices')
  return x.reshape(devices, x.shape[0] // devices, *x.shape[1:])


def parallel_step(p_step, p_state, p_frozen, devices: int, *global_batch):
  """One pmapped step on this process's rows of the global batch (x, keys[, weights]), with
  the replicated frozen arrays; metrics as host floats (identical on every process: the step
  reduces over all of them)."""
  local = [shard(distributed.local_rows(np.asarray(a)), devices) for a in global_batch]
  p_state, m = p_step(p_state, p_frozen, *local)
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
    raise errors.UserError(f'non-finite {", ".join(bad)} at step {step}: stopping '
                             '(the last checkpoint is intact; lower the learning rate)')


def log_line(path: pathlib.Path, record: dict) -> None:
  with path.open('a') as f:
    f.write(json.dumps(record) + '\n')
