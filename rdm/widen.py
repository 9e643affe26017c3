"""θ of a narrow model embedded in a wider one (more channels N and latents M) that codes every
image to the same x̂ and, up to the new channels' near-zero cost, the same bits: a wide ladder
member can continue a trained narrow one instead of starting from scratch (issue 38: the top of
an N=64 ladder saturates).

The wide θ is a fresh initialisation with the narrow θ copied onto the old channels; then
- weights from a new input channel to an old output are 0, so no old activation changes
  (in GDN: γ from a new channel into an old one's norm is 0);
- the new latents y are 0 (their g_a weights and bias are 0), and h_s predicts μ = 0 and a small σ
  for them, so ŷ is 0 there and costs almost nothing; the new z channels are 0 likewise, priced by
  the prior of the old channel that prices 0 cheapest.
New channels start with fresh weights on their inputs from old ones, so gradients reach them from
the first step (the zero blocks are what they learn first).
"""
import dataclasses

import flax.traverse_util
import jax
import jax.numpy as jnp
import numpy as np

from rdm import entropy_models, model
from rdm.zoo import ModelError

SIGMA_NEW = 0.15  # σ of the new latents at the start: a unit bin around 0 holds 99.9 % of it


def check_widening(narrow: model.Architecture, wide: model.Architecture) -> None:
  same = {f.name for f in dataclasses.fields(model.Architecture)} - {'N', 'M'}
  if any(getattr(narrow, f) != getattr(wide, f) for f in same) or (
      wide.N < narrow.N or wide.M < narrow.M):
    raise ModelError(f'cannot widen {narrow} to {wide}: only N and M may grow')
  if wide.hyperprior != 'mean-scale':  # scale-only's σ = ReLU(·) cannot start small for new y
    raise ModelError(f'cannot widen {narrow}: only mean-scale models keep their rate widened')


def _old_index(path: tuple[str, ...], old_size: int, narrow, wide) -> np.ndarray:
  """Where the narrow model's channels sit along an output axis of the wide leaf: the first
  old_size, except on h_s's last layer, whose outputs are [μ | raw σ]."""
  if path[:2] == ('h_s', 'Conv_0'):
    return np.concatenate([np.arange(narrow.M), wide.M + np.arange(narrow.M)])
  return np.arange(old_size)


def _axes(path: tuple[str, ...]) -> tuple[int | None, int]:
  """(input-channel axis, output-channel axis) of a leaf."""
  leaf = path[-1]
  if leaf == 'kernel':
    return 2, 3
  if leaf == 'gamma':
    return 1, 0
  return None, 0  # biases, GDN β, the factorized prior's per-channel leaves


def widened(params, narrow: model.Architecture, wide: model.Architecture,
            rng: jax.Array):
  """θ of `wide` that computes what `narrow`'s θ `params` computes (see the module's doc)."""
  check_widening(narrow, wide)
  fresh = jax.device_get(model.init_params(wide, rng))
  old = jax.device_get(params)
  cheapest_z = _cheapest_zero_channel(narrow, old)
  flat_old = dict(jax.tree_util.tree_flatten_with_path(old)[0])
  out = {}
  for key, w in jax.tree_util.tree_flatten_with_path(fresh)[0]:
    path = tuple(k.key for k in key)
    n = np.asarray(flat_old[key])
    w = np.array(w)
    in_axis, out_axis = _axes(path)
    index = [np.arange(s) for s in n.shape]
    index[out_axis] = _old_index(path, n.shape[out_axis], narrow, wide)
    old_out = index[out_axis]
    new_out = np.setdiff1d(np.arange(w.shape[out_axis]), old_out)
    if in_axis is not None:  # new inputs must not reach old outputs
      block = [slice(None)] * w.ndim
      block[in_axis] = slice(n.shape[in_axis], None)
      block[out_axis] = old_out
      w[tuple(block)] = 0
    w[np.ix_(*index)] = n
    if path[0] == 'prior_z':
      w[new_out] = n[cheapest_z]
    out[path] = _silenced(path, w, out_axis, new_out, wide)
  return flax.traverse_util.unflatten_dict(out)


def _cheapest_zero_channel(narrow: model.Architecture, params) -> int:
  """The old z channel whose prior prices z = 0 cheapest: the new z channels, 0, take its prior."""
  zero = jnp.zeros((1, narrow.N))
  mass = entropy_models.factorized_likelihood(narrow.modules['prior_z'], params['prior_z'], zero)
  return int(jnp.argmax(mass[0]))


def _silenced(path, w, out_axis, new_out, wide):
  """New latents y and z start at 0, with μ = 0 and σ = SIGMA_NEW predicted for the new y."""
  new = [slice(None)] * w.ndim
  new[out_axis] = new_out
  if path[:2] in (('g_a', 'Conv_3'), ('h_a', 'Conv_2')):
    w[tuple(new)] = 0
  elif path[:2] == ('h_s', 'Conv_0'):
    raw_new = new_out[new_out >= wide.M]
    w[tuple(new)] = 0
    if path[-1] == 'bias':
      w[raw_new] = np.log(SIGMA_NEW) if wide.sigma == 'exp' else SIGMA_NEW
  return w
