"""Latent optimisation (RQ1's amortization-gap baseline): each frame's y and z optimised directly
under the fixed θ_D, with straight-through rounding, so what is optimised is what gets coded."""
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from rdm import losses
from rdm import model


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
      history.append({'phase': 'latents', 'frame': i, 'step': steps, 'time_s': time.perf_counter() - t_start,
                      **{f'train_{k}': float(v) for k, v in m.items()}})
    latents.append((np.asarray(lat['y']), np.asarray(lat['z'])))
  return latents, history
