"""Whole streams: frames (+ δ̂) → .rdm bytes → frames, with the model id checked.

The UPDATE section is rdm.model_update's ModelUpdate.to_bytes(), empty when δ̂ = 0.
"""
import dataclasses

import numpy as np

from rdm import coding
from rdm import container
from rdm import model_update
from rdm import range_coding
from rdm import zoo
from rdm.container import FormatError


@dataclasses.dataclass
class Encoded:
  data: bytes  # the .rdm stream
  x_hat: np.ndarray  # [T, H, W, 3] uint8: exactly what the decoder will produce
  sizes: dict  # bytes per part: header, update, z, y
  estimated_bits: dict  # the model's estimate: y, z, update


def unpack_update(payload: bytes, base_params) -> model_update.ModelUpdate:
  """The ModelUpdate of an UPDATE section; FormatError on anything inconsistent."""
  try:
    return model_update.ModelUpdate.from_bytes(payload, base_params)
  except ValueError as e:  # CodingError is a ValueError too
    raise FormatError(f'model update section is invalid: {e}') from e


def encode_frames(theta_d: zoo.GlobalModel, frames: np.ndarray, params=None,
                  update: model_update.ModelUpdate | None = None, latents=None) -> Encoded:
  """Code I-frames [T, H, W, 3] uint8 with θ (θ_D by default; θ_D + δ̂ and the adapted encoder
  after adaptation, with `update` the δ̂ the receiver needs)."""
  params = theta_d.params if params is None else params
  coder = coding.make_coder(theta_d.arch, params)
  coded = [coding.compress_frame(coder, x, None if latents is None else latents[i])
           for i, x in enumerate(frames)]
  stream = container.Stream(
      model_id=theta_d.sha256,
      frames=tuple(container.Frame(x.shape[0], x.shape[1], c.index_crc)
                   for x, c in zip(frames, coded)),
      update=update.to_bytes() if update else b'', z=tuple(c.z_bytes for c in coded),
      y=tuple(c.y_bytes for c in coded))
  estimated = {'y': sum(c.estimated_bits_y for c in coded),
               'z': sum(c.estimated_bits_z for c in coded),
               'update': update.ideal_bits() if update else 0.0}
  return Encoded(container.write(stream), np.stack([c.x_hat for c in coded]),
                 stream.section_sizes(), estimated)


def decode(data: bytes, indices: list[int] | None = None) -> np.ndarray:
  """A .rdm stream → [T, H, W, 3] uint8 frames (only those of `indices`, when given: every
  I-frame is coded alone). Every problem is a FormatError."""
  stream = container.read(data)
  chosen = range(len(stream.frames)) if indices is None else indices
  if any(not 0 <= i < len(stream.frames) for i in chosen):
    raise FormatError(f'the stream has {len(stream.frames)} frames; asked for {list(chosen)}')
  try:
    name = zoo.find_by_hash(stream.model_id)
  except zoo.ModelError as e:
    raise FormatError(str(e)) from e
  theta_d = zoo.load_global_model(name)
  params = (unpack_update(stream.update, theta_d.params).apply(theta_d.params) if stream.update
            else theta_d.params)
  coder = coding.make_coder(theta_d.arch, params)
  frames = []
  for i in chosen:
    f = stream.frames[i]
    try:
      frames.append(coding.decompress_frame(coder, stream.z[i], stream.y[i], f.height, f.width,
                                            f.index_crc))
    except (range_coding.CodingError, coding.IndexMismatch) as e:
      raise FormatError(f'frame {i}: {e}') from e
  return np.stack(frames)
