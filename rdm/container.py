"""The .rdm container: a validated header, then CRC-protected sections.

Layout (little endian):
  magic 'RDM1'(4) | version u8 | model id: sha256 of θ_D (32) | frame count u16
  per frame: height u16 | width u16 | CRC32 of its scale indexes u32
  section count u32 | per section: kind u8 | length u32 | CRC32 u32
  header CRC32 u32 (of everything above)
  payloads, in section order: one UPDATE (δ̂, possibly empty), then Z and Y for each frame.

read() checks all of it before any payload is decoded; every problem is a FormatError.
"""
import dataclasses
import struct
import zlib

from rdm import errors

MAGIC = b'RDM1'
VERSION = 4  # 2: a changed-leaf flag per leaf; 3: a prior per opened leaf; 4: constriction's coder
# What decodes the streams of each older version: their range code is another coder's.
DECODED_BY = {
    1: 'rdm at commit c96d0c5 (Python 3.11, TensorFlow 2.17)',
    2: 'rdm at commit 4fa6855 (Python 3.11, TensorFlow 2.17)',
    3: 'rdm 0.1.0 (commit 830a3eb: Python 3.11 with TensorFlow 2.17 and '
       'tensorflow-compression-ops 2.17)',
}
MAX_SIDE = 16384  # larger frames are refused rather than allocated
UPDATE, Z, Y = 1, 2, 3
_HEAD = struct.Struct('<4sB32sH')
_FRAME = struct.Struct('<HHI')
_COUNT = struct.Struct('<I')
_SECTION = struct.Struct('<BII')
_CRC = struct.Struct('<I')


class FormatError(errors.UserError):
  """A .rdm stream that is truncated, corrupt, of another version, or for another model."""


@dataclasses.dataclass(frozen=True)
class Frame:
  height: int
  width: int
  index_crc: int


@dataclasses.dataclass(frozen=True)
class Stream:
  model_id: str  # hex sha256 of θ_D
  frames: tuple[Frame, ...]
  update: bytes  # coded δ̂ (see model_update.py), b'' when θ_D is used as is
  z: tuple[bytes, ...]  # per frame
  y: tuple[bytes, ...]  # per frame

  def section_sizes(self) -> dict[str, int]:
    """Bytes per part: header (all framing), update, z, y."""
    payload = {'update': len(self.update), 'z': sum(map(len, self.z)),
               'y': sum(map(len, self.y))}
    return {'header': len(write(self)) - sum(payload.values()), **payload}


def write(stream: Stream) -> bytes:
  if len(stream.frames) != len(stream.z) or len(stream.frames) != len(stream.y):
    raise ValueError('one z and one y section per frame')
  if not 0 < len(stream.frames) < 2 ** 16:
    raise ValueError(f'{len(stream.frames)} frames: a stream holds 1..65535')
  for f in stream.frames:
    if not (0 < f.height <= MAX_SIDE and 0 < f.width <= MAX_SIDE):
      raise ValueError(f'frame size {f.height}×{f.width} outside 1..{MAX_SIDE}')
  payloads = [(UPDATE, stream.update)]
  for z, y in zip(stream.z, stream.y):
    payloads += [(Z, z), (Y, y)]
  header = _HEAD.pack(MAGIC, VERSION, bytes.fromhex(stream.model_id), len(stream.frames))
  header += b''.join(_FRAME.pack(f.height, f.width, f.index_crc) for f in stream.frames)
  header += _COUNT.pack(len(payloads))
  header += b''.join(_SECTION.pack(k, len(p), zlib.crc32(p)) for k, p in payloads)
  header += _CRC.pack(zlib.crc32(header))
  return header + b''.join(p for _, p in payloads)


class Reader:
  """Reads a byte string front to back; `error` naming the part it ends inside (the stream here,
  the model update section in rdm.model_update)."""

  def __init__(self, data: bytes, error: type[ValueError] = FormatError,
               name: str = 'the stream'):
    self.data, self.pos, self.error, self.name = data, 0, error, name

  def take_bytes(self, size: int, what: str) -> bytes:
    if self.pos + size > len(self.data):
      raise self.error(f'truncated: {self.name} ends inside the {what} '
                       f'(byte {len(self.data)} of at least {self.pos + size})')
    self.pos += size
    return self.data[self.pos - size:self.pos]

  def take(self, s: struct.Struct, what: str) -> tuple:
    return s.unpack(self.take_bytes(s.size, what))

  def rest(self) -> bytes:
    return self.data[self.pos:]


def read(data: bytes) -> Stream:
  """Parse and validate a whole .rdm stream (header, lengths, every CRC)."""
  if not data:
    raise FormatError('empty input: not an .rdm stream')
  if data[:len(MAGIC)] != MAGIC[:len(data)]:
    raise FormatError(f'not an .rdm stream (starts with {data[:4]!r}, expected {MAGIC!r})')
  r = Reader(data)
  magic, version, model_id, count = r.take(_HEAD, 'header')
  if version > VERSION:
    raise FormatError(f'format version {version} is newer than this rdm reads ({VERSION}); '
                      'upgrade rdm')
  if version != VERSION:
    decoder = DECODED_BY.get(version, 'no released rdm')
    raise FormatError(f'format version {version} is older than this rdm reads ({VERSION}); '
                      f'it is decoded by {decoder}, or re-encode the video')
  frames = tuple(Frame(*r.take(_FRAME, f'frame table entry {i}')) for i in range(count))
  (sections,) = r.take(_COUNT, 'section count')
  if sections != 1 + 2 * count:
    raise FormatError(f'{sections} sections for {count} frames (expected {1 + 2 * count})')
  table = [r.take(_SECTION, f'section table entry {i}') for i in range(sections)]
  header_end = r.pos
  (crc,) = r.take(_CRC, 'header checksum')
  if zlib.crc32(data[:header_end]) != crc:
    raise FormatError('header checksum mismatch: the header is corrupt')
  if count == 0:
    raise FormatError('the stream holds no frames')
  for i, f in enumerate(frames):
    if not (0 < f.height <= MAX_SIDE and 0 < f.width <= MAX_SIDE):
      raise FormatError(f'frame {i} has an invalid size {f.height}×{f.width}')
  expected_kinds = [UPDATE] + [Z, Y] * count
  total = r.pos + sum(length for _, length, _ in table)
  if total != len(data):
    problem = 'truncated' if total > len(data) else 'trailing bytes'
    raise FormatError(f'{problem}: the sections need {total} bytes, the stream has {len(data)}')
  payloads, pos = [], r.pos
  for i, ((kind, length, crc), want) in enumerate(zip(table, expected_kinds)):
    if kind != want:
      raise FormatError(f'section {i} has kind {kind}, expected {want}')
    payload = data[pos:pos + length]
    if zlib.crc32(payload) != crc:
      name = {UPDATE: 'model update', Z: 'z', Y: 'y'}[kind]
      frame = '' if kind == UPDATE else f' of frame {(i - 1) // 2}'
      raise FormatError(f'checksum mismatch in the {name} section{frame}: the data is corrupt')
    payloads.append(payload)
    pos += length
  return Stream(model_id.hex(), frames, payloads[0], tuple(payloads[1::2]),
                tuple(payloads[2::2]))
