"""The model update δ: which parameters it covers, θ = θ_D + δ̂, and δ̂ ↔ bytes.

δ is a flat dict {'g_s/ConvTranspose_0/kernel': array, ...} over the receiver-side leaves that
match the configured group patterns; its key order (sorted) is the order they are coded in.

Coded form: one bit per leaf (packed, in key order) saying whether any of its entries is
non-zero, then k = δ̂/t of the flagged leaves only, range-coded under the spike-and-slab table.
The prior prices an unchanged entry at ~0.005 bits; with most leaves untouched (RQ3) that alone
was ~40 % of the update, and the flag makes a whole untouched leaf cost one bit.
"""
import jax
import jax.numpy as jnp
import numpy as np

from rdm import model_prior
from rdm import quantization


def leaf_name(path) -> str:
  return '/'.join(str(getattr(k, 'key', k)) for k in path)


def named_leaves(params) -> dict[str, jax.Array]:
  return {leaf_name(p): v for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}


def parse_patterns(groups: str) -> tuple[str, ...]:
  patterns = tuple(g.strip() for g in groups.split(',') if g.strip())
  if not patterns:
    raise ValueError('adapt.groups selects no parameters')
  return patterns


def selected_names(params, groups: str, allowed=None) -> list[str]:
  """Sorted leaf names that start with one of the comma-separated patterns."""
  patterns = parse_patterns(groups)
  names = sorted(n for n in named_leaves(params) if n.startswith(patterns))
  if allowed is not None:
    outside = [n for n in names if not n.startswith(allowed)]
    if outside:
      raise ValueError(f'{outside[0]} is not a receiver-side parameter; δ may only cover '
                       f'{", ".join(allowed)}')
  if not names:
    raise ValueError(f'adapt.groups={groups!r} matches no parameter')
  return names


def init_delta(params, groups: str) -> dict[str, jax.Array]:
  """δ = 0 over the receiver-side parameters the patterns select."""
  from rdm.model import RECEIVER_GROUPS
  leaves = named_leaves(params)
  return {n: jnp.zeros_like(leaves[n]) for n in selected_names(params, groups, RECEIVER_GROUPS)}


def quantize(delta, t: float):
  """δ̂ = t·round(δ/t), straight-through."""
  return jax.tree_util.tree_map(lambda d: quantization.ste_quantize(d, t), delta)


def apply_update(params, delta):
  """θ = θ_D + δ for the leaves δ covers; the others are θ_D."""
  def add(path, p):
    return p + delta[leaf_name(path)] if leaf_name(path) in delta else p
  return jax.tree_util.tree_map_with_path(add, params)


def update_integers(delta_hat, t: float) -> np.ndarray:
  """All k = δ̂/t in coding order, as one int32 vector."""
  if not delta_hat:
    return np.zeros(0, np.int32)
  return np.concatenate([np.rint(np.asarray(delta_hat[n], np.float64) / t).reshape(-1)
                         for n in sorted(delta_hat)]).astype(np.int32)


def integers_to_delta(k: np.ndarray, params, names: list[str], t: float):
  """Inverse of update_integers, shapes from θ_D; δ̂ = k·t in float32 exactly as the sender."""
  leaves = named_leaves(params)
  delta, pos = {}, 0
  for n in names:
    size = leaves[n].size
    delta[n] = (k[pos:pos + size].astype(np.float32) * np.float32(t)).reshape(leaves[n].shape)
    pos += size
  return delta


def update_table(prior: model_prior.SpikeSlab):
  from rdm import range_coding  # TensorFlow stays out of finetuning imports
  return range_coding.table_from_pmfs([model_prior.bin_pmf(prior)], [prior.half_width])


def changed_leaves(delta_hat) -> list[bool]:
  """Per leaf in coding order: does δ̂ change any entry of it?"""
  return [bool(np.any(np.asarray(delta_hat[n]) != 0)) for n in sorted(delta_hat)]


def coded_integers(delta_hat, t: float) -> tuple[bytes, np.ndarray]:
  """(leaf flags packed into bytes, k = δ̂/t of the flagged leaves) — what encode_update codes."""
  flags = changed_leaves(delta_hat)
  kept = {n: delta_hat[n] for n, f in zip(sorted(delta_hat), flags) if f}
  return np.packbits(np.array(flags, bool)).tobytes(), update_integers(kept, t)


def update_bits(delta_hat, prior: model_prior.SpikeSlab) -> float:
  """Ideal bits of encode_update's output: the flags plus −Σ log2 P(k) of the flagged leaves."""
  from rdm import range_coding
  flags, k = coded_integers(delta_hat, prior.t)
  return 8 * len(flags) + range_coding.ideal_bits(k, np.zeros_like(k), update_table(prior))


def encode_update(delta_hat, prior: model_prior.SpikeSlab) -> bytes:
  from rdm import range_coding
  flags, k = coded_integers(delta_hat, prior.t)
  return flags + range_coding.encode(k, np.zeros_like(k), update_table(prior))


def decode_update(stream: bytes, params, names: list[str], prior: model_prior.SpikeSlab):
  """Inverse of encode_update; ValueError (CodingError) on a malformed payload."""
  from rdm import range_coding
  flag_bytes = (len(names) + 7) // 8
  if len(stream) < flag_bytes:
    raise range_coding.CodingError('model update ends inside its leaf flags')
  bits = np.unpackbits(np.frombuffer(stream[:flag_bytes], np.uint8))
  if bits[len(names):].any():
    raise range_coding.CodingError('model update flags a leaf that does not exist')
  coded = [n for n, f in zip(names, bits) if f]
  leaves = named_leaves(params)
  k = range_coding.decode(stream[flag_bytes:],
                          np.zeros(sum(leaves[n].size for n in coded), np.int32),
                          update_table(prior))
  delta = integers_to_delta(k, params, coded, prior.t)
  return {n: delta[n] if n in delta else np.zeros(leaves[n].shape, np.float32) for n in names}
