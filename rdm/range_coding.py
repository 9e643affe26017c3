"""Range coding with tensorflow-compression's native ops: pmf tables → quantized CDFs → bytes.

The only module of rdm's codec that imports TensorFlow. A CodingTable is a stack of discrete
distributions; every coded integer names its row (`index`). Each row covers the integers
[-offset, -offset + size - 2] plus one escape symbol: values outside that range are coded through
the escape and an interleaved Elias-gamma code (the ops' overflow mode), so no value is ever
unencodable, only expensive.
"""
import dataclasses
import os

import numpy as np

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # TensorFlow's CUDA probing is noise here
import tensorflow as tf  # noqa: E402
import tensorflow_compression_ops as tfc_ops  # noqa: E402

PRECISION = 16  # bits of the CDF tables (the ops accept 1..16)


class CodingError(ValueError):
  """Symbols that cannot be coded or a code stream that does not decode."""


@dataclasses.dataclass(frozen=True)
class CodingTable:
  lookup: np.ndarray  # int32 [rows, 1 + max_symbols + 1]: -precision, then the CDF, padded
  offsets: np.ndarray  # int32 [rows]: symbol = value + offset

  @property
  def rows(self) -> int:
    return self.lookup.shape[0]


def quantized_cdf(pmf: np.ndarray, precision: int = PRECISION) -> np.ndarray:
  """CDF in integer counts summing to 2**precision, every symbol at least one count.

  Counts are 1 + floor(p · (2^precision − K)); the few counts lost to flooring go to the most
  probable symbol, whose relative change is then the smallest. Deterministic in float64.
  """
  pmf = np.asarray(pmf, np.float64)
  if pmf.ndim != 1 or pmf.size < 1 or not np.all(np.isfinite(pmf)) or np.any(pmf < 0):
    raise CodingError('pmf must be a non-empty vector of finite non-negative numbers')
  total = 1 << precision
  k = pmf.size
  if k > total:
    raise CodingError(f'{k} symbols do not fit a {precision}-bit CDF')
  mass = pmf.sum()
  pmf = pmf / mass if mass > 0 else np.full(k, 1.0 / k)
  counts = 1 + np.floor(pmf * (total - k)).astype(np.int64)
  counts[np.argmax(pmf)] += total - counts.sum()
  return np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)


def table_from_pmfs(pmfs: list[np.ndarray], offsets, precision: int = PRECISION) -> CodingTable:
  """Rows from pmfs over [-offset, -offset + len - 1]; the escape symbol gets the leftover mass
  (1 − Σ pmf, the tails), at least one count."""
  rows = []
  for pmf in pmfs:
    pmf = np.asarray(pmf, np.float64)
    tail = max(1.0 - pmf.sum(), 0.0)
    rows.append(quantized_cdf(np.append(pmf, tail), precision))
  width = max(len(r) for r in rows)
  lookup = np.full((len(rows), 1 + width), 1 << precision, np.int32)
  lookup[:, 0] = -precision  # negative precision switches on the escape (overflow) mode
  for i, r in enumerate(rows):
    lookup[i, 1:1 + len(r)] = r
  return CodingTable(lookup, np.asarray(offsets, np.int32))


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
  if np.abs(values).max() >= 2 ** 30:
    raise CodingError('value too large for the escape code')
  symbols = (values.astype(np.int64) + table.offsets[indexes]).astype(np.int32)
  handle = tfc_ops.create_range_encoder([], table.lookup)
  handle = tfc_ops.entropy_encode_index(handle, indexes, symbols)
  return tfc_ops.entropy_encode_finalize(handle).numpy()


def decode(stream: bytes, indexes: np.ndarray, table: CodingTable) -> np.ndarray:
  """Inverse of encode for the same indexes and table (int32 values, shaped like indexes).

  The coder cannot tell a damaged stream from a valid one in general; callers verify a checksum
  first (the container does). A stream that ends early raises CodingError.
  """
  indexes = np.asarray(indexes, np.int32)
  if indexes.size == 0:
    return np.zeros(indexes.shape, np.int32)
  flat = indexes.reshape(-1)
  if flat.min() < 0 or flat.max() >= table.rows:
    raise CodingError(f'table index out of range [0, {table.rows})')
  try:
    handle = tfc_ops.create_range_decoder(stream, table.lookup)
    handle, symbols = tfc_ops.entropy_decode_index(handle, flat, flat.shape, tf.int32)
    ok = bool(tfc_ops.entropy_decode_finalize(handle).numpy())
  except tf.errors.OpError as e:
    raise CodingError(f'range decoder failed: {e.message}') from e
  if not ok:
    raise CodingError('range decoder reached an invalid state (stream damaged or truncated)')
  values = symbols.numpy().astype(np.int64) - table.offsets[flat]
  return values.astype(np.int32).reshape(indexes.shape)


def ideal_bits(values: np.ndarray, indexes: np.ndarray, table: CodingTable) -> float:
  """−Σ log2 of each value's quantized probability (escapes counted at the escape mass only)."""
  values = np.asarray(values).reshape(-1).astype(np.int64)
  indexes = np.asarray(indexes).reshape(-1)
  cdf = table.lookup[:, 1:].astype(np.int64)
  sizes = np.argmax(cdf == (1 << PRECISION), axis=1)  # symbols incl. escape per row
  symbols = values + table.offsets[indexes]
  escape = sizes[indexes] - 1
  symbols = np.where((symbols < 0) | (symbols > escape), escape, symbols)
  counts = cdf[indexes, symbols + 1] - cdf[indexes, symbols]
  return float(-np.sum(np.log2(counts / (1 << PRECISION))))
