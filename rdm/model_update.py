"""The model update δ: the one owner of δ → k → δ̂, its bits, its bytes and θ_D + δ̂.

δ is a flat dict {'g_s/ConvTranspose_0/kernel': array, ...} over the receiver-side leaves that
match the configured group patterns; its key order (sorted) is the order they are coded in.

Section payload (empty when δ̂ = 0, so an unchanged model costs nothing):
  t (float32), J (u8) | J × (α, σ_slab) (float32 ×2): the leaf priors its opened leaves use
  | u16 length + the group patterns (utf-8)
  | one flag bit per leaf (packed, in key order): does δ̂ change any entry of it?
  | per flagged leaf, the index of its prior in ⌈log2 J⌉ bits (packed; nothing when J = 1)
  | range code of k = δ̂/t of the flagged leaves, each leaf under its prior's table.
The prior prices an unchanged entry at ~0.005 bits; with most leaves untouched (RQ3) that alone
was ~40 % of the update, and the flag makes a whole untouched leaf cost one bit.

`coded_bits` is the same count in JAX: the M that finetuning puts in its loss (`model_bits`,
with the surrogate whose gradient it follows) is the number of bits this module writes, not the
prior's idealisation of it. One module over ~250 lines on purpose: the format, its bit count in
numpy and in JAX, and the loss's M must change together.
"""
import dataclasses
import struct

import jax
import jax.numpy as jnp
import numpy as np

from rdm import container
from rdm import entropy_tables
from rdm import errors
from rdm import model
from rdm import model_prior
from rdm import quantization
from rdm import range_coding
from rdm.entropy_tables import CodingError

UPDATE_HEAD = struct.Struct('<fB')  # t, number of leaf priors J
PRIOR_PARAMS = struct.Struct('<ff')  # α, σ_slab of each leaf prior
PATTERNS_LENGTH = struct.Struct('<H')  # bytes of the group patterns
ESCAPE_LENGTH_BITS = 8  # the varint length of the escape block: one byte below 128 bytes
# What the range coder (constriction) writes beyond the ideal bits: its final word, less the zero
# bytes dropped at its end, 0..31 bits (mean 16) over random streams; and per symbol, the
# truncation of range/2^24 at each step: ~2^-8/(2 ln²2) = 1.3e-4 bits for a range log-uniform over
# 32..64 bits, measured 1.1–1.2e-4 on updates of 1.1 M entries. tests/test_adapt.py.
RANGE_CODER_FLUSH_BITS = 16
RANGE_CODER_BITS_PER_SYMBOL = 1.2e-4


def leaf_name(path) -> str:
  return '/'.join(str(getattr(k, 'key', k)) for k in path)


def named_leaves(params) -> dict[str, jax.Array]:
  return {leaf_name(p): v for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}


def patterns_bytes(groups: tuple[str, ...]) -> bytes:
  """The group patterns as the section stores them: comma separated, utf-8."""
  if isinstance(groups, str) or not groups or any(not g or ',' in g for g in groups):
    raise errors.ConfigError(f'adapt.groups must be non-empty leaf-name prefixes without commas, '
                             f'not {groups!r}')
  return ','.join(groups).encode()


def selected_names(params, groups: tuple[str, ...]) -> tuple[str, ...]:
  """Sorted receiver-side leaf names that start with one of the patterns."""
  patterns_bytes(groups)
  names = sorted(n for n in named_leaves(params) if n.startswith(tuple(groups)))
  outside = [n for n in names if not n.startswith(model.RECEIVER_GROUPS)]
  if outside:
    raise errors.ConfigError(f'{outside[0]} is not a receiver-side parameter; δ may only cover '
                     f'{", ".join(model.RECEIVER_GROUPS)}')
  if not names:
    raise errors.ConfigError(f'adapt.groups={groups!r} matches no parameter')
  return tuple(names)


def init_delta(params, groups: tuple[str, ...]) -> dict[str, jax.Array]:
  """δ = 0 over the receiver-side parameters the patterns select."""
  leaves = named_leaves(params)
  return {n: jnp.zeros_like(leaves[n]) for n in selected_names(params, groups)}


def quantize(delta, t: float):
  """δ̂ = t·round(δ/t), straight-through."""
  return jax.tree_util.tree_map(lambda d: quantization.ste_quantize(d, t), delta)


def apply_update(params, delta):
  """θ = θ_D + δ for the leaves δ covers; the others are θ_D."""
  def add(path, p):
    return p + delta[leaf_name(path)] if leaf_name(path) in delta else p
  return jax.tree_util.tree_map_with_path(add, params)


def update_table(priors: tuple[model_prior.SpikeSlab, ...]) -> entropy_tables.CodingTable:
  """One row per prior: a leaf's symbols are coded under the row of its prior."""
  return entropy_tables.table_from_pmfs([model_prior.bin_pmf(p) for p in priors],
                                        [p.half_width for p in priors])


def overhead_bits(groups: tuple[str, ...], leaves: int, written, opened, symbols, xp=np):
  """What a non-empty section costs beyond its symbols' ideal bits: head, the `written` priors
  its opened leaves use, patterns, flags, the `opened` leaves' packed prior indexes, framing and
  the coder's own cost of its `symbols` entries. xp: numpy, or jax.numpy in the loss (written,
  opened and symbols are then traced)."""
  head = (UPDATE_HEAD.size + PATTERNS_LENGTH.size + len(patterns_bytes(groups))
          + (leaves + 7) // 8)
  indexes = xp.ceil(xp.ceil(xp.log2(written)) * opened / 8)
  return (8 * (head + written * PRIOR_PARAMS.size + indexes) + ESCAPE_LENGTH_BITS
          + RANGE_CODER_FLUSH_BITS + RANGE_CODER_BITS_PER_SYMBOL * symbols)


def symbol_bits(prior: model_prior.SpikeSlab) -> tuple[np.ndarray, float]:
  """(bits of k = −K..K under the prior's 16-bit table, bits of the escape symbol itself)."""
  table = update_table((prior,))
  counts = np.diff(table.cdf[0].astype(np.int64))
  bits = -np.log2(counts[:2 * prior.half_width + 2] / (1 << entropy_tables.PRECISION))
  return bits[:-1], float(bits[-1])


def ideal_symbol_bits(prior: model_prior.SpikeSlab, k: np.ndarray) -> float:
  """What the range code and its escape block spend on the integers k under one prior (no head,
  flags or framing)."""
  k = np.asarray(k).reshape(-1)
  escaped = np.abs(k) > prior.half_width
  return (entropy_tables.ideal_bits(k, np.zeros_like(k), update_table((prior,)))
          + 8.0 * entropy_tables.varint_bytes(k[escaped]).sum())


def cheapest_prior(priors: model_prior.LeafPriors, k: np.ndarray) -> int:
  """The index of the prior a leaf's integers k cost fewest bits under."""
  return int(np.argmin([ideal_symbol_bits(p, k) for p in priors.priors]))


def leaf_costs(priors: model_prior.LeafPriors, delta_hat: dict) -> tuple[jax.Array, jax.Array]:
  """In JAX, per leaf of δ̂ (sorted names): the bits of its symbols and escapes under each
  prior [leaves, J], and whether it is opened [leaves]. No gradient: piecewise constant in δ."""
  rows = []
  for p in priors.priors:
    bits, escape = symbol_bits(p)
    rows.append((jnp.asarray(bits, jnp.float32), escape, p.half_width))
  costs, opened = [], []
  for name in sorted(delta_hat):
    k = jnp.rint(jax.lax.stop_gradient(delta_hat[name]) / priors.t).astype(jnp.int32)
    varint = 8.0 * entropy_tables.varint_bytes(k, jnp).astype(jnp.float32)
    costs.append(jnp.stack([
        jnp.sum(jnp.where(jnp.abs(k) <= half, bits[jnp.clip(k + half, 0, 2 * half)],
                          escape + varint)) for bits, escape, half in rows]))
    opened.append(jnp.any(k != 0))
  return jnp.stack(costs), jnp.stack(opened)


def total_bits(groups: tuple[str, ...], costs: jax.Array, opened: jax.Array, sizes) -> jax.Array:
  """The section's bits from leaf_costs and the leaves' sizes: each opened leaf under its
  cheapest prior, the priors so used, the indexes and the rest of the overhead; 0 when no leaf
  is opened."""
  choice = jnp.argmin(costs, axis=1)
  used = jnp.any(opened[:, None] & (choice[:, None] == jnp.arange(costs.shape[1])), axis=0)
  symbols = jnp.sum(jnp.where(opened, jnp.min(costs, axis=1), 0.0))
  overhead = overhead_bits(groups, len(opened), jnp.maximum(jnp.sum(used), 1), jnp.sum(opened),
                           jnp.sum(jnp.where(opened, jnp.asarray(sizes, jnp.float32), 0.0)), jnp)
  return jnp.where(jnp.any(opened), symbols + overhead, 0.0)


def coded_bits(priors: model_prior.LeafPriors, groups: tuple[str, ...],
               delta_hat: dict) -> jax.Array:
  """The bits ModelUpdate.to_bytes writes for δ̂ (a dict of multiples of t), in JAX: flags,
  prior indexes, the tables' quantized probabilities (their floor included), escapes and
  framing. No gradient: it is piecewise constant in δ."""
  return total_bits(groups, *leaf_costs(priors, delta_hat),
                    [delta_hat[n].size for n in sorted(delta_hat)])


RATE_GRADIENTS = ('bins', 'density', 'noise')


def adapted_params(base_params, train_vars, t: float, quantize_aware: bool):
  """θ = θ_D with the finetuned encoder, plus δ̂ (or the raw δ when not quantization-aware)."""
  params = {**base_params, **train_vars['encoder']}
  if 'delta' not in train_vars:
    return params, {}
  delta = train_vars['delta']
  delta_used = quantize(delta, t) if quantize_aware else delta
  return apply_update(params, delta_used), delta_used


def rate_surrogate(prior: model_prior.EntryPriors, delta, delta_used, rate_gradient: str, key):
  """A differentiable stand-in for M whose gradient finetuning follows:
  'bins'    −Σ log2 P(bin of δ̂), straight-through δ̂ (flat, so 0 gradient, at δ̂ = 0);
  'density' −Σ log2(t·p(δ)), the continuous prior at δ: inside the zero bin it pulls δ to 0;
  'noise'   −Σ log2 P(bin centred on δ + u), u ~ U(±t/2): the rate of a noisy δ, as uniform
            noise stands in for rounding in R."""
  if rate_gradient == 'bins':
    return model_prior.update_bits(prior, delta_used)
  if rate_gradient == 'density':
    return model_prior.density_bits(prior, delta)
  d = model_prior.all_entries(delta)
  return model_prior.update_bits(prior, d + prior.t * jax.random.uniform(key, d.shape, d.dtype,
                                                                         -0.5, 0.5))


def model_bits(priors: model_prior.LeafPriors, groups: tuple[str, ...], delta, delta_used,
               rate_gradient: str, key):
  """M before normalisation: forward, the bits the coder writes for round(δ/t)·t; backward,
  the gradient of rate_surrogate alone, each leaf under the prior it is coded under now."""
  costs, opened = leaf_costs(priors, quantize(delta, priors.t))
  sizes = [delta[n].size for n in sorted(delta)]
  coded = total_bits(groups, costs, opened, sizes)
  entries = model_prior.per_entry(priors, jnp.argmin(costs, axis=1), sizes)
  surrogate = rate_surrogate(entries, delta, delta_used, rate_gradient, key)
  return coded + surrogate - jax.lax.stop_gradient(surrogate)


@dataclasses.dataclass(frozen=True)
class ModelUpdate:
  """A quantized update: δ̂ = k·t over the leaves `names` of θ_D, each opened leaf coded under
  the cheapest of `priors`."""
  priors: model_prior.LeafPriors
  groups: tuple[str, ...]  # the adapt.groups patterns that select `names`
  names: tuple[str, ...]  # sorted leaf names: the coding order
  k: tuple[np.ndarray, ...]  # int32 per leaf, in the leaf's shape

  @classmethod
  def from_delta(cls, delta: dict, priors: model_prior.LeafPriors,
                 groups: tuple[str, ...]) -> 'ModelUpdate':
    """Rounds a (trained) δ to its bins, k = round(δ/t)."""
    names = tuple(sorted(delta))
    k = tuple(np.rint(np.asarray(delta[n], np.float64) / priors.t).astype(np.int32)
              for n in names)
    return cls(priors, groups, names, k)

  @property
  def is_zero(self) -> bool:
    return not any(k.any() for k in self.k)

  def delta_hat(self) -> dict[str, np.ndarray]:
    """δ̂ = k·t in float32, exactly as sender and receiver both form it."""
    t = np.float32(self.priors.t)
    return {n: k.astype(np.float32) * t for n, k in zip(self.names, self.k)}

  def apply(self, base_params):
    """θ_D + δ̂."""
    return apply_update(base_params, self.delta_hat())

  def changed(self) -> list[bool]:
    """Per leaf in coding order: does δ̂ change any entry of it?"""
    return [bool(k.any()) for k in self.k]

  def written_priors(self) -> tuple[model_prior.LeafPriors, list[tuple[np.ndarray, int]]]:
    """The priors the section carries (those its flagged leaves are coded under, in order: an
    update that needs only the paper's prior carries only that one) and (k, its prior's index
    among them) of each flagged leaf, in coding order."""
    leaves = [(k, cheapest_prior(self.priors, k)) for k, f in zip(self.k, self.changed()) if f]
    used = sorted({i for _, i in leaves})
    return (model_prior.LeafPriors(tuple(self.priors.priors[i] for i in used)),
            [(k, used.index(i)) for k, i in leaves])

  def ideal_bits(self) -> float:
    """The bits to_bytes writes, to within the range coder's flush (0 for δ̂ = 0)."""
    if self.is_zero:
      return 0.0
    written, leaves = self.written_priors()
    return (overhead_bits(self.groups, len(self.names), len(written.priors), len(leaves),
                          sum(k.size for k, _ in leaves))
            + sum(ideal_symbol_bits(written.priors[i], k) for k, i in leaves))

  def to_bytes(self) -> bytes:
    """The UPDATE section payload; b'' when δ̂ = 0 (the receiver then uses θ_D as is)."""
    if self.is_zero:
      return b''
    written, leaves = self.written_priors()
    priors = written.priors
    groups = patterns_bytes(self.groups)
    head = (UPDATE_HEAD.pack(written.t, len(priors))
            + b''.join(PRIOR_PARAMS.pack(p.alpha, p.sigma_slab) for p in priors)
            + PATTERNS_LENGTH.pack(len(groups)) + groups)
    flags = np.packbits(np.array(self.changed(), bool)).tobytes()
    indexes = pack_indexes([i for _, i in leaves], written.index_bits)
    k = np.concatenate([k.reshape(-1) for k, _ in leaves])
    rows = np.concatenate([np.full(k.size, i, np.int32) for k, i in leaves])
    return (head + flags + indexes
            + range_coding.encode(k, rows, update_table(priors)))

  @classmethod
  def from_bytes(cls, payload: bytes, base_params) -> 'ModelUpdate':
    """Inverse of to_bytes given θ_D (leaf shapes); CodingError (a ValueError) naming the
    problem on anything malformed."""
    reader = container.Reader(payload, CodingError, 'the model update section')
    t, count = reader.take(UPDATE_HEAD, 'header')
    pairs = [reader.take(PRIOR_PARAMS, 'leaf priors') for _ in range(count)]
    try:
      priors = model_prior.LeafPriors(tuple(model_prior.SpikeSlab(float(t), float(a), float(s))
                                            for a, s in pairs))
    except ValueError as e:
      raise CodingError(f'model update priors are invalid: {e}') from e
    try:
      groups = tuple(reader.take_bytes(reader.take(PATTERNS_LENGTH, 'patterns length')[0],
                                       'parameter patterns').decode().split(','))
    except UnicodeDecodeError as e:
      raise CodingError(f'model update patterns are not utf-8: {e}') from e
    names = selected_names(base_params, groups)
    flags = np.unpackbits(np.frombuffer(reader.take_bytes((len(names) + 7) // 8, 'leaf flags'),
                                        np.uint8))
    if flags[len(names):].any():
      raise CodingError('model update flags a leaf that does not exist')
    leaves = named_leaves(base_params)
    coded = [n for n, f in zip(names, flags) if f]
    index = unpack_indexes(reader.take_bytes(-(-priors.index_bits * len(coded) // 8),
                                             'prior indexes'), len(coded), priors.index_bits)
    if np.any(index >= len(priors.priors)):
      raise CodingError(f'model update codes a leaf under prior {index.max()} of '
                        f'{len(priors.priors)}')
    rows = np.concatenate([np.full(leaves[n].size, i, np.int32) for n, i in zip(coded, index)]
                          + [np.zeros(0, np.int32)])
    k_flat = range_coding.decode(reader.rest(), rows, update_table(priors.priors))
    k, start = {}, 0
    for n in coded:
      size = leaves[n].size
      k[n] = k_flat[start:start + size].reshape(leaves[n].shape)
      start += size
    zeros = {n: np.zeros(leaves[n].shape, np.int32) for n in names}
    return cls(priors, groups, names, tuple(k.get(n, zeros[n]) for n in names))


def pack_indexes(indexes: list[int], bits: int) -> bytes:
  """Each index in `bits` bits, most significant first, packed into bytes."""
  if not bits:
    return b''
  as_bits = (np.asarray(indexes, np.uint8)[:, None] >> np.arange(bits - 1, -1, -1)) & 1
  return np.packbits(as_bits.reshape(-1)).tobytes()


def unpack_indexes(payload: bytes, count: int, bits: int) -> np.ndarray:
  """Inverse of pack_indexes."""
  if not bits:
    return np.zeros(count, np.int64)
  as_bits = np.unpackbits(np.frombuffer(payload, np.uint8))[:count * bits].reshape(count, bits)
  return as_bits.astype(np.int64) @ (1 << np.arange(bits - 1, -1, -1))
