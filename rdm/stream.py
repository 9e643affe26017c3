"""Whole streams: frames (+ δ̂) → .rdm bytes → frames, with the model id checked.

The UPDATE section payload is: t, α, σ_slab (float32 ×3) | u16 length + the δ patterns (utf-8)
| one flag bit per selected leaf | range-coded k = δ̂/t of the flagged leaves under the
spike-and-slab table (rdm.model_update). Empty when no update is sent.
"""
import dataclasses
import os
import pathlib
import struct

import numpy as np

from rdm import coding
from rdm import container
from rdm import model
from rdm import model_prior
from rdm import model_update
from rdm import range_coding
from rdm import zoo
from rdm.container import FormatError

UPDATE_HEAD = struct.Struct('<fffH')


@dataclasses.dataclass
class Encoded:
  data: bytes  # the .rdm stream
  x_hat: np.ndarray  # [T, H, W, 3] uint8: exactly what the decoder will produce
  sizes: dict  # bytes per part: header, update, z, y
  estimated_bits: dict  # the model's estimate: y, z, update


def pack_update(delta_hat: dict, prior: model_prior.SpikeSlab, groups: str) -> bytes:
  names = groups.encode()
  head = UPDATE_HEAD.pack(prior.t, prior.alpha, prior.sigma_slab, len(names))
  return head + names + model_update.encode_update(delta_hat, prior)


def unpack_update(payload: bytes, base_params):
  """(θ_D + δ̂, δ̂) from an UPDATE section; FormatError on anything inconsistent."""
  if len(payload) < UPDATE_HEAD.size:
    raise FormatError('model update section is shorter than its header')
  t, alpha, sigma_slab, n = UPDATE_HEAD.unpack_from(payload)
  names_end = UPDATE_HEAD.size + n
  if len(payload) < names_end:
    raise FormatError('model update section ends inside its parameter patterns')
  try:
    groups = payload[UPDATE_HEAD.size:names_end].decode()
    prior = model_prior.SpikeSlab(float(t), float(alpha), float(sigma_slab))
    names = model_update.selected_names(base_params, groups, model.RECEIVER_GROUPS)
    delta_hat = model_update.decode_update(payload[names_end:], base_params, names, prior)
  except (UnicodeDecodeError, ValueError) as e:  # CodingError is a ValueError too
    raise FormatError(f'model update section is invalid: {e}') from e
  return model_update.apply_update(base_params, delta_hat), delta_hat


def encode_frames(model_name: str, frames: np.ndarray, params=None, delta_hat=None,
                  prior=None, groups: str = '', latents=None) -> Encoded:
  """Code I-frames [T, H, W, 3] uint8 with θ (θ_D by default; θ_D + δ̂ after adaptation)."""
  arch, base_params, manifest = zoo.load_global_model(model_name)
  params = base_params if params is None else params
  coder = coding.make_coder(arch, params)
  coded = [coding.compress_frame(coder, x, None if latents is None else latents[i])
           for i, x in enumerate(frames)]
  update = pack_update(delta_hat, prior, groups) if delta_hat else b''
  stream = container.Stream(
      model_id=manifest['sha256'],
      frames=tuple(container.Frame(x.shape[0], x.shape[1], c.index_crc)
                   for x, c in zip(frames, coded)),
      update=update, z=tuple(c.z_bytes for c in coded), y=tuple(c.y_bytes for c in coded))
  estimated = {'y': sum(c.estimated_bits_y for c in coded),
               'z': sum(c.estimated_bits_z for c in coded),
               'update': model_update.update_bits(delta_hat, prior) if delta_hat else 0.0}
  return Encoded(container.write(stream), np.stack([c.x_hat for c in coded]),
                 stream.section_sizes(), estimated)


def decode(data: bytes) -> np.ndarray:
  """A .rdm stream → [T, H, W, 3] uint8 frames. Every problem is a FormatError."""
  stream = container.read(data)
  try:
    name = zoo.find_by_hash(stream.model_id)
  except zoo.ModelError as e:
    raise FormatError(str(e)) from e
  arch, base_params, _ = zoo.load_global_model(name)
  params = unpack_update(stream.update, base_params)[0] if stream.update else base_params
  coder = coding.make_coder(arch, params)
  frames = []
  for i, (f, z, y) in enumerate(zip(stream.frames, stream.z, stream.y)):
    try:
      frames.append(coding.decompress_frame(coder, z, y, f.height, f.width, f.index_crc))
    except (range_coding.CodingError, coding.IndexMismatch) as e:
      raise FormatError(f'frame {i}: {e}') from e
  return np.stack(frames)


def write_atomic(path: str | pathlib.Path, data: bytes) -> None:
  """Write via a temporary file and rename, so a crash never leaves a half-written file."""
  path = pathlib.Path(path)
  tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
  with open(tmp, 'wb') as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
