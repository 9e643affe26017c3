"""Range coding with tensorflow-compression's native ops: integers under CodingTables → bytes.

The only module of rdm's codec that imports TensorFlow; the tables themselves, and what each
symbol costs under them, are rdm.entropy_tables. Values outside a row's range are coded as its
escape symbol, their actual values zigzag-varint coded into a block in front of the range code:
no value is unencodable, only expensive.

Why not the ops' own overflow mode (negative precision, interleaved Elias gamma): its decoder
loops on gamma prefix bits until it reads a 1, and a crafted stream that never provides one
hangs it (found by experiments/fuzz_decoder.py). Without it every decode is bounded.

Stream: u32 length of the escape block | escape block | range code.
"""
import os
import struct

import numpy as np

from rdm.entropy_tables import CodingError, CodingTable, escape_symbols


def _import_tensorflow_quietly():
  """TensorFlow 2.17 registers its CUDA plugins at import and reports each as an error on the
  process's stderr, before TF_CPP_MIN_LOG_LEVEL is read: noise on a CPU machine that would
  drown the main job's output. stderr is closed for the import only."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)
  try:
    import tensorflow
    import tensorflow_compression_ops
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)
  return tensorflow, tensorflow_compression_ops


tf, tfc_ops = _import_tensorflow_quietly()


def _zigzag_varints(values: np.ndarray) -> bytes:
  out = bytearray()
  for v in values.tolist():
    u = (v << 1) ^ (v >> 63)  # zigzag: small magnitudes of either sign → small codes
    while u >= 0x80:
      out.append((u & 0x7F) | 0x80)
      u >>= 7
    out.append(u)
  return bytes(out)


def _read_zigzag_varints(block: bytes, count: int) -> np.ndarray:
  values, pos = [], 0
  for _ in range(count):
    u, shift = 0, 0
    while True:
      if pos >= len(block) or shift > 35:
        raise CodingError('escape block is truncated or malformed')
      byte = block[pos]
      pos += 1
      u |= (byte & 0x7F) << shift
      shift += 7
      if byte < 0x80:
        break
    values.append((u >> 1) ^ -(u & 1))
  if pos != len(block):
    raise CodingError('escape block has trailing bytes')
  return np.asarray(values, np.int64)


def encode(values: np.ndarray, indexes: np.ndarray, table: CodingTable) -> bytes:
  """Range-code integer values, each under the row its index names, into one stream."""
  values = np.asarray(values).reshape(-1)
  indexes = np.asarray(indexes, np.int32).reshape(-1)
  if values.shape != indexes.shape:
    raise CodingError(f'{values.size} values but {indexes.size} indexes')
  if values.size == 0:
    return b''
  if indexes.min() < 0 or indexes.max() >= table.rows:
    raise CodingError(f'table index out of range [0, {table.rows})')
  if np.abs(values.astype(np.int64)).max() >= 2 ** 31:
    raise CodingError('value does not fit int32')
  escape = escape_symbols(table, indexes)
  symbols = values.astype(np.int64) + table.offsets[indexes]
  escaped = (symbols < 0) | (symbols >= escape)
  symbols = np.where(escaped, escape, symbols).astype(np.int32)
  block = _zigzag_varints(values[escaped].astype(np.int64))
  handle = tfc_ops.create_range_encoder([], table.lookup)
  handle = tfc_ops.entropy_encode_index(handle, indexes, symbols)
  return struct.pack('<I', len(block)) + block + tfc_ops.entropy_encode_finalize(handle).numpy()


def decode(stream: bytes, indexes: np.ndarray, table: CodingTable) -> np.ndarray:
  """Inverse of encode for the same indexes and table (int32 values, shaped like indexes).

  The coder cannot tell a damaged stream from a valid one in general; callers verify a checksum
  first (the container does). Inconsistent streams raise CodingError; none can hang.
  """
  indexes = np.asarray(indexes, np.int32)
  if indexes.size == 0:
    return np.zeros(indexes.shape, np.int32)
  flat = indexes.reshape(-1)
  if flat.min() < 0 or flat.max() >= table.rows:
    raise CodingError(f'table index out of range [0, {table.rows})')
  if len(stream) < 4:
    raise CodingError('stream shorter than its escape-block length')
  (block_len,) = struct.unpack_from('<I', stream)
  if 4 + block_len > len(stream):
    raise CodingError('escape block runs past the end of the stream')
  code = stream[4 + block_len:]
  try:
    handle = tfc_ops.create_range_decoder(code, table.lookup)
    handle, symbols = tfc_ops.entropy_decode_index(handle, flat, flat.shape, tf.int32)
    ok = bool(tfc_ops.entropy_decode_finalize(handle).numpy())
  except tf.errors.OpError as e:
    raise CodingError(f'range decoder failed: {e.message}') from e
  if not ok:
    raise CodingError('range decoder reached an invalid state (stream damaged or truncated)')
  symbols = symbols.numpy().astype(np.int64)
  escape = escape_symbols(table, flat)
  if np.any(symbols > escape) or np.any(symbols < 0):
    raise CodingError('decoded a symbol outside its table row')
  escaped = symbols == escape
  values = symbols - table.offsets[flat]
  values[escaped] = _read_zigzag_varints(stream[4:4 + block_len], int(escaped.sum()))
  if np.abs(values).max() >= 2 ** 31:
    raise CodingError('decoded value does not fit int32')
  return values.astype(np.int32).reshape(indexes.shape)
