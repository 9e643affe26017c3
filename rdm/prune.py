"""Leaves of δ̂ that do not pay for themselves, found and dropped on the sender's side.

Finetuning prices δ̂ at the bits the coder writes, but no rate gradient sees the discrete price of
opening a leaf: its flag and the coding table's floor (~0.007 bits) on every one of its zeros, so
an h_s kernel of 345,600 entries opened for one of them costs ~2,500 bits. Each opened leaf is
valued here by how much L_RDM rises when it alone is reset to θ_D, with the adapted encoder and
the model's estimate of the latents' bits; the leaves worth less than nothing are reset together,
and the result is one more candidate for the coder to weigh by its real bytes (a wrong estimate
costs an encode, never the stream).
"""
import dataclasses

import numpy as np
from tqdm import tqdm

from rdm import losses
from rdm import model
from rdm import model_update
from rdm.candidate import Candidate

# Leaves are valued on at most this many I-frames, evenly spaced: one valuation per opened leaf
# over all 159 I-frames of a long clip took minutes each.
VALUATION_FRAMES = 20


def valuation_frames(frames: np.ndarray) -> np.ndarray:
  """The I-frames leaves are valued on: all of them, or VALUATION_FRAMES evenly spaced."""
  if len(frames) <= VALUATION_FRAMES:
    return frames
  return frames[np.linspace(0, len(frames) - 1, VALUATION_FRAMES).round().astype(int)]


def valuation_batches(frames: np.ndarray) -> list[np.ndarray]:
  """frames in batches of at most 4, as float32."""
  return [x.astype(np.float32) for x in np.array_split(frames, -(-len(frames) // 4))]


def estimated_loss(arch, params, batches: list[np.ndarray], latents: list, beta: float,
                   update_bits: float, pixels: int) -> float:
  """L_RDM = MSE + β·bpp over batches of frames (of one size) with rounded latents and the
  model's estimate of their bits (within 0.4 % of the coded bits on bikes and carphone:
  WORKSPACE.md), the update's bits spread over `pixels` (all pixels of the video's I-frames);
  latents: each batch's (y, z) under params' encoder."""
  evaluated = [(len(x), losses.evaluate(arch, params, x, yz)) for x, yz in zip(batches, latents)]
  count = sum(n for n, _ in evaluated)
  mse = sum(n * m['mse'] for n, m in evaluated) / count
  bpp = sum(n * m['bpp_latent'] for n, m in evaluated) / count
  return losses.rd_objective(mse, bpp + update_bits / pixels, beta)


def with_leaves_reset(update: model_update.ModelUpdate, names) -> model_update.ModelUpdate:
  return dataclasses.replace(update, k=tuple(np.zeros_like(k) if n in names else k
                                             for n, k in zip(update.names, update.k)))


def leaf_values(arch, encoder_params, update: model_update.ModelUpdate, frames: np.ndarray,
                beta: float) -> dict[str, float]:
  """Per opened leaf: estimated L_RDM without its δ̂ (the update's bits shrinking with it) minus
  that of the whole update; encoder_params: θ_D with the adapted encoder. Positive: the leaf pays
  for itself."""
  pixels, batches = int(np.prod(frames.shape[:3])), valuation_batches(valuation_frames(frames))
  # δ̂ changes only the receiver's groups, so every valuation shares the encoder's latents.
  latents = [losses.analyze(arch, encoder_params, x) for x in batches]

  def loss(reduced):
    return estimated_loss(arch, reduced.apply(encoder_params), batches, latents, beta,
                          reduced.ideal_bits(), pixels)
  whole = loss(update)
  opened = [name for name, changed in zip(update.names, update.changed()) if changed]
  return {name: loss(with_leaves_reset(update, {name})) - whole
          for name in tqdm(opened, desc='value leaves of δ̂', unit='leaf', dynamic_ncols=True)}


def without_unpaid_leaves(arch, base_params, candidate: Candidate, frames: np.ndarray,
                          beta: float) -> Candidate | None:
  """The candidate with every leaf of negative value reset (None: each opened leaf pays)."""
  encoder_params = {**base_params, **{g: candidate.params[g] for g in model.SENDER_GROUPS}}
  values = leaf_values(arch, encoder_params, candidate.update, frames, beta)
  unpaid = {name for name, value in values.items() if value < 0}
  if not unpaid:
    return None
  update = with_leaves_reset(candidate.update, unpaid)
  if update.is_zero:
    return dataclasses.replace(candidate, params=encoder_params, update=None, pruned=True)
  return dataclasses.replace(candidate, params=update.apply(encoder_params), update=update,
                             pruned=True)
