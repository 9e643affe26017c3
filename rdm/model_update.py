"""The model update δ: the one owner of δ → k → δ̂, its bits, its bytes and θ_D + δ̂.

δ is a flat dict {'g_s/ConvTranspose_0/kernel': array, ...} over the receiver-side leaves that
match the configured group patterns; its key order (sorted) is the order they are coded in.

Section payload (empty when δ̂ = 0, so an unchanged model costs nothing):
  t, α, σ_slab (float32 ×3) | u16 length + the group patterns (utf-8)
  | one flag bit per leaf (packed, in key order): does δ̂ change any entry of it?
  | range code of k = δ̂/t of the flagged leaves under the spike-and-slab table.
The prior prices an unchanged entry at ~0.005 bits; with most leaves untouched (RQ3) that alone
was ~40 % of the update, and the flag makes a whole untouched leaf cost one bit.

`coded_bits` is the same count in JAX: the M that finetuning puts in its loss is the number of
bits this module writes, not the prior's idealisation of it.
"""
import dataclasses
import struct

import jax
import jax.numpy as jnp
import numpy as np

from rdm import entropy_tables
from rdm import model
from rdm import model_prior
from rdm import quantization
from rdm.entropy_tables import CodingError

UPDATE_HEAD = struct.Struct('<fffH')  # t, α, σ_slab, length of the group patterns
ESCAPE_LENGTH_BITS = 32  # the u32 length of the escape block in front of the range code
# What tensorflow-compression's range coder writes beyond the ideal bits: its final flush and
# the byte boundary, measured −4..+8 bits (median ~3) over random sparse updates; plus ~0.001
# bits per non-zero symbol, not modelled (45 bits in a 580 kbit update). tests/test_adapt.py.
RANGE_CODER_FLUSH_BITS = 3


def leaf_name(path) -> str:
  return '/'.join(str(getattr(k, 'key', k)) for k in path)


def named_leaves(params) -> dict[str, jax.Array]:
  return {leaf_name(p): v for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}


def parse_patterns(groups: str) -> tuple[str, ...]:
  patterns = tuple(g.strip() for g in groups.split(',') if g.strip())
  if not patterns:
    raise ValueError('adapt.groups selects no parameters')
  return patterns


def selected_names(params, groups: str) -> tuple[str, ...]:
  """Sorted receiver-side leaf names that start with one of the comma-separated patterns."""
  names = sorted(n for n in named_leaves(params) if n.startswith(parse_patterns(groups)))
  outside = [n for n in names if not n.startswith(model.RECEIVER_GROUPS)]
  if outside:
    raise ValueError(f'{outside[0]} is not a receiver-side parameter; δ may only cover '
                     f'{", ".join(model.RECEIVER_GROUPS)}')
  if not names:
    raise ValueError(f'adapt.groups={groups!r} matches no parameter')
  return tuple(names)


def init_delta(params, groups: str) -> dict[str, jax.Array]:
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


def update_table(prior: model_prior.SpikeSlab) -> entropy_tables.CodingTable:
  return entropy_tables.table_from_pmfs([model_prior.bin_pmf(prior)], [prior.half_width])


def fixed_bits(groups: str, leaves: int) -> int:
  """What a non-empty section costs beyond its symbols: head, patterns, flags, framing."""
  head = UPDATE_HEAD.size + len(groups.encode()) + (leaves + 7) // 8
  return 8 * head + ESCAPE_LENGTH_BITS + RANGE_CODER_FLUSH_BITS


def symbol_bits(prior: model_prior.SpikeSlab) -> tuple[np.ndarray, float]:
  """(bits of k = −K..K under the 16-bit table, bits of the escape symbol itself)."""
  table = update_table(prior)
  counts = np.diff(table.lookup[0, 1:].astype(np.int64))
  bits = -np.log2(counts[:2 * prior.half_width + 2] / (1 << entropy_tables.PRECISION))
  return bits[:-1], float(bits[-1])


def ideal_symbol_bits(prior: model_prior.SpikeSlab, k: np.ndarray) -> float:
  """What the range code and its escape block spend on the integers k (no head, flags or
  framing)."""
  k = np.asarray(k).reshape(-1)
  escaped = np.abs(k) > prior.half_width
  return (entropy_tables.ideal_bits(k, np.zeros_like(k), update_table(prior))
          + 8.0 * entropy_tables.varint_bytes(k[escaped]).sum())


def coded_bits(prior: model_prior.SpikeSlab, groups: str, delta_hat: dict) -> jax.Array:
  """The bits ModelUpdate.to_bytes writes for δ̂ (a dict of multiples of t), in JAX: flags,
  the table's quantized probabilities (its floor included), escapes and framing. No gradient:
  it is piecewise constant in δ."""
  in_table, escape = symbol_bits(prior)
  in_table = jnp.asarray(in_table, jnp.float32)
  half = prior.half_width
  total, any_open = 0.0, False
  for name in sorted(delta_hat):
    k = jnp.rint(jax.lax.stop_gradient(delta_hat[name]) / prior.t).astype(jnp.int32)
    varint = 8.0 * entropy_tables.varint_bytes(k, jnp).astype(jnp.float32)
    bits = jnp.where(jnp.abs(k) <= half, in_table[jnp.clip(k + half, 0, 2 * half)],
                     escape + varint)
    opened = jnp.any(k != 0)
    total += jnp.where(opened, jnp.sum(bits), 0.0)
    any_open = jnp.logical_or(any_open, opened)
  return jnp.where(any_open, total + fixed_bits(groups, len(delta_hat)), 0.0)


@dataclasses.dataclass(frozen=True)
class ModelUpdate:
  """A quantized update: δ̂ = k·t over the leaves `names` of θ_D, priced by `prior`."""
  prior: model_prior.SpikeSlab
  groups: str  # the adapt.groups patterns that select `names`
  names: tuple[str, ...]  # sorted leaf names: the coding order
  k: tuple[np.ndarray, ...]  # int32 per leaf, in the leaf's shape

  @classmethod
  def from_delta(cls, delta: dict, prior: model_prior.SpikeSlab, groups: str) -> 'ModelUpdate':
    """Rounds a (trained) δ to its bins, k = round(δ/t)."""
    names = tuple(sorted(delta))
    k = tuple(np.rint(np.asarray(delta[n], np.float64) / prior.t).astype(np.int32)
              for n in names)
    return cls(prior, groups, names, k)

  @property
  def is_zero(self) -> bool:
    return not any(k.any() for k in self.k)

  def delta_hat(self) -> dict[str, np.ndarray]:
    """δ̂ = k·t in float32, exactly as sender and receiver both form it."""
    return {n: k.astype(np.float32) * np.float32(self.prior.t) for n, k in zip(self.names, self.k)}

  def apply(self, base_params):
    """θ_D + δ̂."""
    return apply_update(base_params, self.delta_hat())

  def changed(self) -> list[bool]:
    """Per leaf in coding order: does δ̂ change any entry of it?"""
    return [bool(k.any()) for k in self.k]

  def coded_integers(self) -> np.ndarray:
    """k of the flagged leaves, in coding order: what the range coder codes."""
    kept = [k.reshape(-1) for k, f in zip(self.k, self.changed()) if f]
    return np.concatenate(kept) if kept else np.zeros(0, np.int32)

  def ideal_bits(self) -> float:
    """The bits to_bytes writes, to within the range coder's flush (0 for δ̂ = 0)."""
    if self.is_zero:
      return 0.0
    return (fixed_bits(self.groups, len(self.names))
            + ideal_symbol_bits(self.prior, self.coded_integers()))

  def to_bytes(self) -> bytes:
    """The UPDATE section payload; b'' when δ̂ = 0 (the receiver then uses θ_D as is)."""
    from rdm import range_coding  # TensorFlow stays out of finetuning imports
    if self.is_zero:
      return b''
    groups = self.groups.encode()
    head = UPDATE_HEAD.pack(self.prior.t, self.prior.alpha, self.prior.sigma_slab, len(groups))
    flags = np.packbits(np.array(self.changed(), bool)).tobytes()
    k = self.coded_integers()
    return head + groups + flags + range_coding.encode(k, np.zeros_like(k),
                                                       update_table(self.prior))

  @classmethod
  def from_bytes(cls, payload: bytes, base_params) -> 'ModelUpdate':
    """Inverse of to_bytes given θ_D (leaf shapes); CodingError (a ValueError) naming the
    problem on anything malformed."""
    from rdm import range_coding
    if len(payload) < UPDATE_HEAD.size:
      raise CodingError('model update section is shorter than its header')
    t, alpha, sigma_slab, n = UPDATE_HEAD.unpack_from(payload)
    pos = UPDATE_HEAD.size + n
    if len(payload) < pos:
      raise CodingError('model update section ends inside its parameter patterns')
    try:
      groups = payload[UPDATE_HEAD.size:pos].decode()
    except UnicodeDecodeError as e:
      raise CodingError(f'model update patterns are not utf-8: {e}') from e
    prior = model_prior.SpikeSlab(float(t), float(alpha), float(sigma_slab))
    names = selected_names(base_params, groups)
    flag_bytes = (len(names) + 7) // 8
    if len(payload) < pos + flag_bytes:
      raise CodingError('model update ends inside its leaf flags')
    flags = np.unpackbits(np.frombuffer(payload[pos:pos + flag_bytes], np.uint8))
    if flags[len(names):].any():
      raise CodingError('model update flags a leaf that does not exist')
    leaves = named_leaves(base_params)
    coded = [n for n, f in zip(names, flags) if f]
    k_flat = range_coding.decode(payload[pos + flag_bytes:],
                                 np.zeros(sum(leaves[n].size for n in coded), np.int32),
                                 update_table(prior))
    k, start = {}, 0
    for n in coded:
      size = leaves[n].size
      k[n] = k_flat[start:start + size].reshape(leaves[n].shape)
      start += size
    zeros = {n: np.zeros(leaves[n].shape, np.int32) for n in names}
    return cls(prior, groups, names, tuple(k.get(n, zeros[n]) for n in names))
