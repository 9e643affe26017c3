"""The spike-and-slab prior on the model update δ (van Rozendaal et al. 2021, §3.2).

p(δ) = [N(δ; 0, σ_slab²) + α·N(δ; 0, σ_spike²)] / (1 + α),  σ_spike = t/6.
A quantized update δ̂ = k·t costs −log2 of the prior's mass on its bin [(k−½)t, (k+½)t]: the
spike puts almost all mass on k = 0, so unchanged parameters are nearly free, while the slab
keeps larger updates affordable.

Beyond the paper, an opened leaf of δ̂ may be coded under any of a few such priors (LeafPriors,
one t): the sparse default prices each changed entry at ~13 bits, which is right for a leaf with a
handful of changes and 2–4× too much for a leaf the data wants to change densely (a free update
changes 20–90 % of some leaves: WORKSPACE.md).
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from rdm import errors

MASS_BOUND = 1e-12  # keeps −log2 finite far in the tails
TAIL_SLABS = 5.0  # the coding table spans ±ceil(5 σ_slab / t) bins; beyond: escape code
MAX_HALF_WIDTH = 16_000  # a 16-bit CDF holds at most 2^16 symbols; also bounds what a stream asks
MAX_LEAF_PRIORS = 16  # priors a leaf may choose from (its index: at most 4 bits per opened leaf)


@dataclasses.dataclass(frozen=True)
class SpikeSlab:
  t: float  # bin width of δ̂
  alpha: float  # α, spike weight
  sigma_slab: float  # σ_slab

  def __post_init__(self):
    # The stream carries t, α, σ_slab as float32: snap them here so that sender and receiver
    # build the very same coding table.
    for field in ('t', 'alpha', 'sigma_slab'):
      object.__setattr__(self, field, float(np.float32(getattr(self, field))))
    if not 0 < self.t < np.inf:
      raise errors.ConfigError(f'adapt.t must be finite and > 0, got {self.t}')
    if not 0 <= self.alpha < np.inf:
      raise errors.ConfigError(f'adapt.alpha must be finite and >= 0, got {self.alpha}')
    if not 0 < self.sigma_slab < np.inf:
      raise errors.ConfigError(f'adapt.sigma_slab must be finite and > 0, got {self.sigma_slab}')
    if TAIL_SLABS * self.sigma_slab / self.t > MAX_HALF_WIDTH:
      raise errors.ConfigError(f'adapt.t={self.t:g} is too fine for sigma_slab={self.sigma_slab:g}: '
                       f'the update table would exceed {2 * MAX_HALF_WIDTH + 1} bins')

  @property
  def sigma_spike(self) -> float:
    return self.t / 6.0

  @property
  def half_width(self) -> int:
    """Bins on each side of 0 that the coding table covers."""
    return max(1, int(np.ceil(TAIL_SLABS * self.sigma_slab / self.t)))


@dataclasses.dataclass(frozen=True)
class LeafPriors:
  """The spike-and-slab priors an opened leaf of δ̂ may be coded under, all with one bin width t;
  the first is the configured (paper's) prior. Each opened leaf names its prior in the stream
  with index_bits bits and is coded under the one of fewest bits."""
  priors: tuple[SpikeSlab, ...]

  def __post_init__(self):
    if not 1 <= len(self.priors) <= MAX_LEAF_PRIORS:
      raise errors.ConfigError(f'an update has 1 to {MAX_LEAF_PRIORS} leaf priors, not '
                       f'{len(self.priors)}')
    if len({p.t for p in self.priors}) != 1:
      raise errors.ConfigError('the leaf priors of an update must share one bin width t')

  @property
  def t(self) -> float:
    return self.priors[0].t

  @property
  def index_bits(self) -> int:
    return int(np.ceil(np.log2(len(self.priors))))

  @classmethod
  def from_config(cls, t: float, alpha: float, sigma_slab: float, others) -> 'LeafPriors':
    """(t, α, σ_slab) first, then the (α, σ_slab) pairs of `others` (adapt.leaf_priors)."""
    if any(not isinstance(p, (tuple, list)) or len(p) != 2 for p in others):
      raise errors.ConfigError(f'adapt.leaf_priors must be (alpha, sigma_slab) pairs, not '
                               f'{others!r}')
    return cls((SpikeSlab(t, alpha, sigma_slab),)
               + tuple(SpikeSlab(t, float(a), float(s)) for a, s in others))


@dataclasses.dataclass(frozen=True)
class EntryPriors:
  """A spike-and-slab prior per entry of a flattened update (α, σ_slab arrays; one t): each
  entry priced under its leaf's chosen prior, in one expression (all_entries' reason)."""
  t: float
  alpha: jax.Array
  sigma_slab: jax.Array

  @property
  def sigma_spike(self) -> float:
    return self.t / 6.0


def per_entry(leaf_priors: LeafPriors, choice: jax.Array, sizes) -> EntryPriors:
  """choice[i] (the prior of leaf i, leaves in sorted-name order) spread over its sizes[i]
  entries, in the order all_entries lays them out."""
  index = jnp.repeat(choice, np.asarray(sizes), total_repeat_length=int(np.sum(sizes)))
  alpha = jnp.asarray([p.alpha for p in leaf_priors.priors], jnp.float32)
  sigma = jnp.asarray([p.sigma_slab for p in leaf_priors.priors], jnp.float32)
  return EntryPriors(leaf_priors.t, alpha[index], sigma[index])


def _gaussian_bin_mass(center, half_bin, sigma, ndtr):
  # Mass of N(0, σ²) on [c − h, c + h], evaluated on the side where the CDF is small.
  c = abs(center) if isinstance(center, np.ndarray) else jnp.abs(center)
  return ndtr((half_bin - c) / sigma) - ndtr((-half_bin - c) / sigma)


def bin_mass(prior: SpikeSlab | EntryPriors, delta_hat: jax.Array) -> jax.Array:
  """P(bin of δ̂) under the prior, differentiable in δ̂ (for M in the loss)."""
  ndtr = jax.scipy.special.ndtr
  half = prior.t / 2
  slab = _gaussian_bin_mass(delta_hat, half, prior.sigma_slab, ndtr)
  spike = _gaussian_bin_mass(delta_hat, half, prior.sigma_spike, ndtr)
  return jnp.maximum((slab + prior.alpha * spike) / (1 + prior.alpha), MASS_BOUND)


def all_entries(tree) -> jax.Array:
  """Every leaf's entries in one vector: the prior's terms are then one expression, not one per
  leaf (per leaf, XLA compiled 31 copies of ndtr's erf polynomials: 10× the compile time)."""
  return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree_util.tree_leaves(tree)])


def update_bits(prior: SpikeSlab | EntryPriors, delta_hat) -> jax.Array:
  """M before normalisation: −Σ log2 P(δ̂) over every leaf of a pytree of quantized updates."""
  return -jnp.sum(jnp.log2(bin_mass(prior, all_entries(delta_hat))))


def density_bits(prior: SpikeSlab | EntryPriors, delta) -> jax.Array:
  """−Σ log2(t·p(δ)) of the unquantized δ: the continuous counterpart of update_bits. Its
  gradient pulls δ towards 0 inside the zero bin, where the bin masses are flat (their
  straight-through gradient at δ̂ = 0 is exactly 0), so unneeded entries stay at 0."""
  def log_pdf(d, sigma):
    return -0.5 * jnp.square(d / sigma) - jnp.log(sigma * jnp.sqrt(2 * jnp.pi))
  d = all_entries(delta)
  log_p = jnp.logaddexp(log_pdf(d, prior.sigma_slab),
                        jnp.log(prior.alpha) + log_pdf(d, prior.sigma_spike)) - jnp.log1p(
                            prior.alpha)
  return -jnp.sum(log_p + jnp.log(prior.t)) / jnp.log(2.0)


def bin_pmf(prior: SpikeSlab) -> np.ndarray:
  """P(k) for k = −K..K in float64: the coding table's row (the rest is the escape mass)."""
  k = np.arange(-prior.half_width, prior.half_width + 1, dtype=np.float64)
  half = prior.t / 2
  slab = _gaussian_bin_mass(k * prior.t, half, prior.sigma_slab, special.ndtr)
  spike = _gaussian_bin_mass(k * prior.t, half, prior.sigma_spike, special.ndtr)
  return (slab + prior.alpha * spike) / (1 + prior.alpha)
