"""Range coding with constriction: integers under CodingTables → bytes.

The only module of rdm's codec that touches the entropy coder; the tables themselves, and what
each symbol costs under them, are rdm.entropy_tables. constriction (Bamler's entropy coders for
learned compression, Rust core) codes each row of a table as a Categorical model whose 24-bit
fixed-point CDF is exactly the row's 16-bit CDF times 2^8 (categorical_model), so the coder
spends what entropy_tables.ideal_bits counts, to within its flush.

Symbols are coded grouped by row, in ascending row order (stable within a row): a queue coder
decodes them in that order, and the decoder knows every symbol's row before it decodes, so the
permutation costs nothing. Values outside a row's range are coded as its escape symbol, their
actual values zigzag-varint coded into a block in front of the range code: no value is
unencodable, only expensive, and no decode loops on the data (a fuzzer hung the overflow mode
of the previous coder; experiments/fuzz_decoder.py).

Stream: varint length of the escape block | escape block | range code (32-bit words, big
endian, trailing zero bytes dropped: the decoder reads missing words as zeros anyway).
"""
import weakref

import constriction
import numpy as np

from rdm.entropy_tables import PRECISION, CodingError, CodingTable, escape_symbols

CODER_PRECISION = 24  # constriction's default preset: 32-bit words, 24-bit probabilities
_WORD = np.dtype('>u4')


def categorical_model(cdf: np.ndarray) -> constriction.stream.model.Categorical:
  """constriction's model of one row's integer CDF, reproduced exactly.

  Its fast quantizer sets left_cumulative[i] = floor(Σ_{j<i} p_j · (2^24 − n) / Σ p) + i. With
  p_j = 2^8·count_j − 1 (integers, exact in float64) the scale is exactly 1 and the result is
  2^8·cdf[i]: the coder's model is the table, with no float rounding anywhere.
  """
  counts = np.diff(np.asarray(cdf, np.int64))
  weights = (counts << (CODER_PRECISION - PRECISION)) - 1
  return constriction.stream.model.Categorical(weights.astype(np.float64), perfect=False)


_MODELS = weakref.WeakKeyDictionary()  # CodingTable → its row models, while the table lives


def row_models(table: CodingTable) -> tuple:
  """One constriction model per row of the table, built once per table."""
  if table not in _MODELS:
    _MODELS[table] = tuple(categorical_model(table.cdf[r, :table.sizes[r] + 1])
                           for r in range(table.rows))
  return _MODELS[table]


def _varint(u: int) -> bytes:
  out = bytearray()
  while u >= 0x80:
    out.append((u & 0x7F) | 0x80)
    u >>= 7
  out.append(u)
  return bytes(out)


def _zigzag_varints(values: np.ndarray) -> bytes:
  # zigzag: small magnitudes of either sign → small codes
  return b''.join(_varint((v << 1) ^ (v >> 63)) for v in values.tolist())


def _read_varint(block: bytes, pos: int) -> tuple[int, int]:
  """(value, position after it); CodingError past the end or beyond 35 bits."""
  u, shift = 0, 0
  while True:
    if pos >= len(block) or shift > 35:
      raise CodingError('varint is truncated or malformed')
    byte = block[pos]
    pos += 1
    u |= (byte & 0x7F) << shift
    shift += 7
    if byte < 0x80:
      return u, pos


def _read_zigzag_varints(block: bytes, count: int) -> np.ndarray:
  values, pos = [], 0
  for _ in range(count):
    u, pos = _read_varint(block, pos)
    values.append((u >> 1) ^ -(u & 1))
  if pos != len(block):
    raise CodingError('escape block has trailing bytes')
  return np.asarray(values, np.int64)


def _check_indexes(indexes: np.ndarray, table: CodingTable) -> None:
  if indexes.size and (indexes.min() < 0 or indexes.max() >= table.rows):
    raise CodingError(f'table index out of range [0, {table.rows})')


def _row_order(indexes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(the coding order: positions sorted by row, stably; the rows present; their counts)."""
  order = np.argsort(indexes, kind='stable')
  rows, counts = np.unique(indexes, return_counts=True)
  return order, rows, counts


def encode(values: np.ndarray, indexes: np.ndarray, table: CodingTable) -> bytes:
  """Range-code integer values, each under the row its index names, into one stream."""
  values = np.asarray(values).reshape(-1)
  indexes = np.asarray(indexes, np.int32).reshape(-1)
  if values.shape != indexes.shape:
    raise CodingError(f'{values.size} values but {indexes.size} indexes')
  if values.size == 0:
    return b''
  _check_indexes(indexes, table)
  if np.abs(values.astype(np.int64)).max() >= 2 ** 31:
    raise CodingError('value does not fit int32')
  escape = escape_symbols(table, indexes)
  symbols = values.astype(np.int64) + table.offsets[indexes]
  escaped = (symbols < 0) | (symbols >= escape)
  symbols = np.where(escaped, escape, symbols).astype(np.int32)
  block = _zigzag_varints(values[escaped].astype(np.int64))
  order, rows, counts = _row_order(indexes)
  models = row_models(table)
  encoder = constriction.stream.queue.RangeEncoder()
  for row, group in zip(rows, np.split(symbols[order], np.cumsum(counts)[:-1])):
    encoder.encode(group, models[row])
  code = encoder.get_compressed().astype(_WORD).tobytes().rstrip(b'\0')
  return _varint(len(block)) + block + code


def decode(stream: bytes, indexes: np.ndarray, table: CodingTable) -> np.ndarray:
  """Inverse of encode for the same indexes and table (int32 values, shaped like indexes).

  The coder cannot tell a damaged stream from a valid one in general (any words decode to some
  symbols); callers verify a checksum first (the container does). Inconsistent streams raise
  CodingError; none can hang: the work is bounded by the number of indexes.
  """
  indexes = np.asarray(indexes, np.int32)
  if indexes.size == 0:
    return np.zeros(indexes.shape, np.int32)
  flat = indexes.reshape(-1)
  _check_indexes(flat, table)
  block_len, start = _read_varint(stream, 0)
  if start + block_len > len(stream):
    raise CodingError('escape block runs past the end of the stream')
  code = stream[start + block_len:]
  words = np.frombuffer(code + b'\0' * (-len(code) % 4), _WORD).astype(np.uint32)
  order, rows, counts = _row_order(flat)
  models = row_models(table)
  decoder = constriction.stream.queue.RangeDecoder(words)
  symbols = np.empty(flat.size, np.int64)
  try:
    symbols[order] = np.concatenate([decoder.decode(models[row], int(count))
                                     for row, count in zip(rows, counts)])
  except (AssertionError, ValueError) as e:  # how constriction reports an impossible code
    raise CodingError(f'range decoder failed: {e}') from e
  escape = escape_symbols(table, flat)
  if np.any(symbols > escape) or np.any(symbols < 0):
    raise CodingError('decoded a symbol outside its table row')
  escaped = symbols == escape
  values = symbols - table.offsets[flat]
  values[escaped] = _read_zigzag_varints(stream[start:start + block_len], int(escaped.sum()))
  if np.abs(values).max() >= 2 ** 31:
    raise CodingError('decoded value does not fit int32')
  return values.astype(np.int32).reshape(indexes.shape)
