"""Entropy models: the learned factorized prior on z and the Gaussian conditional on y.

Both give the probability mass of integer-spaced bins, p(v) = F(v + 1/2) − F(v − 1/2), so the
same functions price noisy training latents and the rounded latents that get range coded.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

LIKELIHOOD_BOUND = 1e-9  # keeps −log2 p finite when a bin's mass underflows
SCALE_BOUND = 0.11  # σ lower bound; below it a unit bin holds > 99.99% of the mass anyway
SCALE_MAX = 256.0


class FactorizedPrior(nn.Module):
  """Parameters of the non-parametric density of Ballé et al. 2018 (appendix 6.1), per channel.

  The cumulative is a per-channel monotone MLP 1 → 3 → 3 → 3 → 1: softplus-positive matrices,
  and tanh "factors" that bend each hidden layer.
  """
  channels: int
  filters: Sequence[int] = (3, 3, 3)
  init_scale: float = 10.0
  offsets: bool = False  # a per-channel 'median' z is quantized around (model.z_offset)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """logits of the cumulative at x, x of shape [..., channels]."""
    if self.offsets:
      self.param('median', nn.initializers.zeros, (self.channels,))
    dims = (1, *self.filters, 1)
    scale = self.init_scale ** (1.0 / (len(self.filters) + 1))
    shape = x.shape
    logits = jnp.moveaxis(x, -1, 0).reshape(self.channels, 1, -1)
    for k in range(len(self.filters) + 1):
      init = float(np.log(np.expm1(1.0 / scale / dims[k + 1])))
      matrix = self.param(f'matrix_{k}', nn.initializers.constant(init),
                          (self.channels, dims[k + 1], dims[k]))
      bias = self.param(f'bias_{k}', nn.initializers.uniform(1.0),
                        (self.channels, dims[k + 1], 1))
      logits = jnp.matmul(jax.nn.softplus(matrix), logits) + (bias - 0.5)
      if k < len(self.filters):
        factor = self.param(f'factor_{k}', nn.initializers.zeros, (self.channels, dims[k + 1], 1))
        logits = logits + jnp.tanh(factor) * jnp.tanh(logits)
    return jnp.moveaxis(logits.reshape(self.channels, *shape[:-1]), 0, -1)


def factorized_likelihood(prior: FactorizedPrior, prior_params, z: jax.Array) -> jax.Array:
  """Mass of the unit bin around each z under the factorized prior, z of shape [..., C]."""
  logits = lambda v: prior.apply({'params': prior_params}, v)
  lower, upper = logits(z - 0.5), logits(z + 0.5)
  # Evaluate on the side where the sigmoids are far from 1 to avoid cancellation.
  sign = jax.lax.stop_gradient(-jnp.sign(lower + upper))
  mass = jnp.abs(jax.nn.sigmoid(sign * upper) - jax.nn.sigmoid(sign * lower))
  return jnp.maximum(mass, LIKELIHOOD_BOUND)


def _standard_normal_cdf(x: jax.Array) -> jax.Array:
  return 0.5 * jax.lax.erfc(-x * (2 ** -0.5))


def gaussian_likelihood(y: jax.Array, mu: jax.Array, sigma: jax.Array) -> jax.Array:
  """Mass of the unit bin around y under N(mu, sigma²)."""
  sigma = jnp.maximum(sigma, SCALE_BOUND)
  v = jnp.abs(y - mu)  # symmetric: use the lower tail, where erfc is accurate
  mass = _standard_normal_cdf((0.5 - v) / sigma) - _standard_normal_cdf((-0.5 - v) / sigma)
  return jnp.maximum(mass, LIKELIHOOD_BOUND)


def bits(likelihood: jax.Array) -> jax.Array:
  """Total information content −Σ log2 p."""
  return -jnp.sum(jnp.log2(likelihood))
