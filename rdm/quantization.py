"""Quantization and its training-time proxies (Ballé et al. 2018; Minnen & Singh 2020)."""
import jax
import jax.numpy as jnp

from rdm import errors


def ste_round(x: jax.Array) -> jax.Array:
  """round(x) forward, identity backward (straight-through estimator)."""
  return x + jax.lax.stop_gradient(jnp.round(x) - x)


def ste_quantize(x: jax.Array, t: float) -> jax.Array:
  """t·round(x/t) with a straight-through gradient: the model-update quantizer δ̂ (paper §3)."""
  return t * ste_round(x / t)


def add_uniform_noise(x: jax.Array, rng: jax.Array) -> jax.Array:
  """x + u, u ~ U(-1/2, 1/2): the differentiable stand-in for rounding in the rate term."""
  return x + jax.random.uniform(rng, x.shape, x.dtype, -0.5, 0.5)


def quantize_proxy(x: jax.Array, mu: jax.Array, mode: str, rng: jax.Array) -> jax.Array:
  """Training-time stand-in for mu + round(x - mu).

  mode 'noise': additive uniform noise (unbiased rate estimate);
  mode 'ste': rounding around mu with straight-through gradients (what the decoder sees at test
  time, so the synthesis transform trains on the values it will actually get);
  mode 'round': hard rounding, evaluation.
  """
  if mode == 'noise':
    return add_uniform_noise(x, rng)
  if mode == 'ste':
    return ste_round(x - mu) + mu
  if mode == 'round':
    return jnp.round(x - mu) + mu
  raise errors.ConfigError(f'unknown quantization mode {mode!r}; expected noise, ste or round')
