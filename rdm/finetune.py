"""Instance adaptation: finetune on one video's I-frames (van Rozendaal et al. 2021).

Modes (config.adapt.mode):
  none     θ_D as is.
  encoder  finetune g_a and h_a only (nothing to transmit; L_RD).
  full     finetune g_a, h_a freely and the receiver-side update δ, quantized to δ̂ and priced by
           the spike-and-slab prior: L_RDM = D + β(R + M).
  latents  optimise every frame's y and z directly with θ_D fixed (no amortization gap).
"""
import dataclasses
import functools
import hashlib
import json
import pathlib
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from rdm import checkpoint
from rdm import data
from rdm import distributed
from rdm import losses
from rdm import model
from rdm import model_prior
from rdm import model_update
from rdm import train
from rdm import zoo

MODES = ('none', 'latents', 'encoder', 'full')


@dataclasses.dataclass
class Adapted:
  """What finetuning hands to the coder."""
  params: Any  # θ used to code the frames: θ_D + δ̂ (exactly as the receiver rebuilds it)
  delta_hat: dict | None  # the transmitted δ̂ (full mode), float32 multiples of t
  prior: model_prior.SpikeSlab | None
  latents: list | None  # per-frame (y, z) in latents mode
  history: list  # metric lines


def prior_from_config(cfg) -> model_prior.SpikeSlab:
  return model_prior.SpikeSlab(cfg.t, cfg.alpha, cfg.sigma_slab)


def validate(config) -> None:
  cfg = config.adapt
  if cfg.mode not in MODES:
    raise ValueError(f'adapt.mode must be one of {MODES}, not {cfg.mode!r}')
  if config.loss.beta < 0:
    raise ValueError(f'loss.beta must be >= 0, got {config.loss.beta}')
  prior_from_config(cfg)
  if cfg.rate_gradient not in ('bins', 'density'):
    raise ValueError(f"adapt.rate_gradient must be 'bins' or 'density', not {cfg.rate_gradient!r}")
  if cfg.steps < 0 or cfg.batch_size < 1:
    raise ValueError('adapt.steps must be >= 0 and adapt.batch_size >= 1')


def initial_vars(mode: str, base_params, groups: str) -> dict:
  """The trainable pytree of a mode (δ starts at 0, the encoder at θ_D's)."""
  encoder = {g: base_params[g] for g in model.SENDER_GROUPS}
  if mode == 'encoder':
    return {'encoder': encoder}
  return {'encoder': encoder, 'delta': model_update.init_delta(base_params, groups)}


def adapted_params(base_params, train_vars, t: float, quantize_aware: bool):
  """θ = θ_D with the finetuned encoder, plus δ̂ (or the raw δ when not quantization-aware)."""
  params = {**base_params, **train_vars['encoder']}
  if 'delta' not in train_vars:
    return params, {}
  delta = train_vars['delta']
  delta_used = model_update.quantize(delta, t) if quantize_aware else delta
  return model_update.apply_update(params, delta_used), delta_used


def model_bits(prior, delta, delta_used, rate_gradient: str):
  """M = −Σ log2 P(δ̂) in the forward pass; its gradient is the bin masses' straight-through
  one ('bins') or that of the continuous prior density at δ ('density')."""
  bits = model_prior.update_bits(prior, delta_used)
  if rate_gradient == 'bins':
    return bits
  surrogate = model_prior.density_bits(prior, delta)
  return bits + surrogate - jax.lax.stop_gradient(surrogate)


def rdm_loss_fn(train_vars, x, keys, *, arch, base_params, prior, beta, total_pixels,
                model_rate: bool, quantize_aware: bool, rate_mode: str, decoder_mode: str,
                rate_gradient: str):
  """L_RDM on a batch of I-frame crops; M is normalised by all pixels of all I-frames."""
  params, delta_used = adapted_params(base_params, train_vars, prior.t, quantize_aware)
  fwd = train.batch_forward(arch, params, x, keys, rate_mode, decoder_mode)
  bpp_model = (model_bits(prior, train_vars['delta'], delta_used, rate_gradient) / total_pixels
               if delta_used else 0.0)
  loss, m = losses.rd_loss(fwd, x, beta, bpp_model if model_rate else 0.0)
  m = {**m, 'bpp_model': bpp_model * jnp.ones(()), 'bpp': m['bpp_latent'] + bpp_model}
  return loss, m


def frame_batches(frames: np.ndarray, batch_size: int, crop: int, seed: int, start: int):
  """Random crops of the I-frames, or whole frames when crop is 0."""
  if crop:
    return data.crop_batches(list(frames), batch_size, min(crop, *frames.shape[1:3]), seed, start)

  def whole():
    step = start
    while True:
      rng = np.random.default_rng([seed, step])
      yield frames[rng.integers(len(frames), size=batch_size)].astype(np.float32)
      step += 1
  return whole()


def make_optimizer(cfg) -> optax.GradientTransformation:
  """Adam, linear warm-up then cosine decay (to end_lr_factor × peak), one peak rate for the
  encoder and one for δ. The warm-up matters: Adam's first steps move every weight of θ_D by
  about the full rate whatever its gradient, which costs a converged model more than the
  first hundred steps of finetuning gain (WORKSPACE.md)."""
  def adam(lr):
    return optax.adam(optax.warmup_cosine_decay_schedule(
        0.0, lr, cfg.warmup_steps, max(cfg.steps, cfg.warmup_steps + 1), lr * cfg.end_lr_factor))
  return optax.multi_transform({'encoder': adam(cfg.lr), 'delta': adam(cfg.delta_lr or cfg.lr)},
                               lambda tree: {k: k for k in tree})


# Fields that do not change what a step computes: a run may resume with other values.
RESUMABLE_FIELDS = ('steps', 'checkpoint_every', 'log_every')


def run_fingerprint(config, base_params, frames: np.ndarray) -> dict:
  """What a finetuning checkpoint was made from: θ_D, the I-frames and every setting a step
  depends on (adapt.steps aside, so a finished run can be continued)."""
  return {'theta_D': zoo.params_hash(base_params),
          'frames': hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest(),
          'frames_shape': list(frames.shape), 'beta': config.loss.beta, 'seed': config.seed,
          'quantization': config.quantization.to_dict(),
          'adapt': {k: v for k, v in config.adapt.to_dict().items() if k not in RESUMABLE_FIELDS}}


def check_resumable(workdir: pathlib.Path, fingerprint: dict, has_checkpoint: bool) -> None:
  """Refuse to resume checkpoints made from another model, video or setting (they would
  silently mix two runs); record the fingerprint of a new run."""
  path = workdir / 'fingerprint.json'
  if not has_checkpoint:
    if distributed.is_primary():
      data.write_json(path, fingerprint)
    return
  saved = json.loads(path.read_text()) if path.exists() else None
  if saved != fingerprint:
    differ = ('no fingerprint.json (an older rdm)' if saved is None else ', '.join(
        k for k in fingerprint if saved.get(k) != fingerprint[k]))
    raise ValueError(f'{workdir} holds finetuning checkpoints of another run ({differ} differ); '
                     'use a new --workdir or delete that one')


def finetune_model(config, arch, base_params, frames: np.ndarray, workdir: pathlib.Path):
  """encoder / full modes: pmapped Adam steps on I-frame crops, checkpointed and resumable."""
  cfg = config.adapt
  prior = prior_from_config(cfg)
  tx = make_optimizer(cfg)
  state = train.create_train_state(initial_vars(cfg.mode, base_params, cfg.groups), tx)
  mgr = checkpoint.manager(workdir / 'checkpoints')
  check_resumable(workdir, run_fingerprint(config, base_params, frames),
                  mgr.latest_step() is not None)
  state = checkpoint.restore_latest(mgr, state) or state
  start = int(state.step)
  loss_fn = functools.partial(
      rdm_loss_fn, arch=arch, base_params=base_params, prior=prior, beta=config.loss.beta,
      total_pixels=int(np.prod(frames.shape[:3])), model_rate=cfg.model_rate,
      quantize_aware=cfg.quantize_aware, rate_mode=cfg.rate_mode,
      decoder_mode=config.quantization.decoder, rate_gradient=cfg.rate_gradient)
  # The ordered step makes δ̂, hence the .rdm, byte-identical on any number of devices.
  p_step = train.make_parallel_step(loss_fn, tx, train.ordered_train_step)
  devices = jax.local_device_count()
  batches = frame_batches(frames, cfg.batch_size, cfg.crop, config.seed, start)
  p_state = flax.jax_utils.replicate(state)
  history = []
  t_start = time.perf_counter()
  bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f'adapt {cfg.mode}',
             unit='step', dynamic_ncols=True, disable=not distributed.is_primary())
  for step in bar:
    batch = train.padded_batch(next(batches), train.example_keys(config.seed, step, cfg.batch_size),
                               jax.device_count())
    p_state, m = train.parallel_step(p_step, p_state, devices, *batch)
    train.check_finite(m, step + 1)
    done = step + 1
    if done % cfg.log_every == 0 or done == cfg.steps:
      history.append({'step': done, 'time_s': time.perf_counter() - t_start,
                      **{f'train_{k}': v for k, v in m.items()}})
      if distributed.is_primary():
        train.log_line(workdir / 'metrics.jsonl', history[-1])
      bar.set_postfix(loss=f'{m["loss"]:.1f}', bpp=f'{m["bpp"]:.3f}', psnr=f'{m["psnr"]:.2f}')
    if done % cfg.checkpoint_every == 0 or done == cfg.steps:
      checkpoint.save(mgr, done, train.host_state(p_state))
  mgr.wait_until_finished()
  return train.host_state(p_state).params, prior, history


def finalize_update(base_params, train_vars, prior: model_prior.SpikeSlab):
  """(θ to code with, δ̂) where δ̂ = k·t is rebuilt from integers exactly as the receiver does."""
  params = {**base_params, **train_vars['encoder']}
  if 'delta' not in train_vars:
    return params, None
  k = model_update.update_integers(
      {n: np.asarray(d) for n, d in train_vars['delta'].items()}, prior.t)
  delta_hat = model_update.integers_to_delta(k, base_params, sorted(train_vars['delta']), prior.t)
  return model_update.apply_update(params, delta_hat), delta_hat


@functools.partial(jax.jit, static_argnums=(0, 5))
def _latent_step(arch, params, latents, opt_state, x, tx, beta):
  def loss_fn(lat):
    fwd = model.forward_from_latents(arch, params, lat['y'], lat['z'], x.shape[1], x.shape[2],
                                     None, 'ste', 'ste')
    return losses.rd_loss(fwd, x, beta)
  (_, m), grads = jax.value_and_grad(loss_fn, has_aux=True)(latents)
  updates, opt_state = tx.update(grads, opt_state, latents)
  return optax.apply_updates(latents, updates), opt_state, m


def optimize_latents(config, arch, params, frames: np.ndarray):
  """Direct per-frame optimisation of (y, z) under the fixed θ_D (straight-through rounding,
  so what is optimised is what gets coded). Steps per frame = adapt.steps·batch / frames."""
  cfg = config.adapt
  steps = max(1, cfg.steps * cfg.batch_size // len(frames)) if cfg.steps else 0
  tx = optax.adam(cfg.lr * 10)  # latents live on a ~unit scale, far from the weights' scale
  latents, history = [], []
  t_start = time.perf_counter()
  for i in tqdm(range(len(frames)), desc='adapt latents', unit='frame', dynamic_ncols=True):
    x = jnp.asarray(frames[i:i + 1], jnp.float32)
    y, z = model.analyze(arch, params, x)
    lat = {'y': y, 'z': z}
    opt_state = tx.init(lat)
    for _ in range(steps):
      lat, opt_state, m = _latent_step(arch, params, lat, opt_state, x, tx, config.loss.beta)
    if steps:
      history.append({'frame': i, 'steps': steps, 'time_s': time.perf_counter() - t_start,
                      **{f'train_{k}': float(v) for k, v in m.items()}})
    latents.append((np.asarray(lat['y']), np.asarray(lat['z'])))
  return latents, history


def adapt(config, arch, base_params, frames: np.ndarray, workdir: pathlib.Path) -> Adapted:
  """Run config.adapt.mode on the I-frames; workdir holds this run's checkpoints."""
  validate(config)
  mode = config.adapt.mode
  if mode == 'none':
    return Adapted(base_params, None, None, None, [])
  if mode == 'latents':
    latents, history = optimize_latents(config, arch, base_params, frames)
    return Adapted(base_params, None, None, latents, history)
  train_vars, prior, history = finetune_model(config, arch, base_params, frames, workdir)
  params, delta_hat = finalize_update(base_params, train_vars, prior)
  return Adapted(params, delta_hat, prior if delta_hat else None, None, history)
