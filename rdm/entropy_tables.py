"""Entropy-coding tables in plain numpy: pmfs → quantized 16-bit CDFs, and what each symbol
costs under them, in integers, so that decoding never depends on a machine's floating point and
finetuning prices the model update exactly as the range coder (rdm.range_coding) will code it.

A CodingTable is a stack of discrete distributions; every coded integer names its row (`index`).
Each row covers the integers [-offset, -offset + size - 2] plus one escape symbol: values
outside that range are coded as the escape symbol and their actual values go, zigzag-varint
coded, into a block in front of the range code.
"""
import dataclasses

import numpy as np

from rdm import errors

PRECISION = 16  # bits of the CDF tables (range_coding scales them to the coder's 24 exactly)


class CodingError(errors.UserError):
  """Symbols that cannot be coded or a code stream that does not decode."""


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: range_coding caches on it
class CodingTable:
  cdf: np.ndarray  # int32 [rows, max_symbols + 1]: each row's CDF, padded with 2^PRECISION
  offsets: np.ndarray  # int32 [rows]: symbol = value + offset
  sizes: np.ndarray  # int32 [rows]: symbols of each row, its escape symbol (the last) included

  @property
  def rows(self) -> int:
    return self.cdf.shape[0]


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
  cdf = np.full((len(rows), width), 1 << precision, np.int32)
  for i, r in enumerate(rows):
    cdf[i, :len(r)] = r
  return CodingTable(cdf, np.asarray(offsets, np.int32),
                     np.asarray([len(r) - 1 for r in rows], np.int32))


def escape_symbols(table: CodingTable, indexes: np.ndarray) -> np.ndarray:
  """The escape symbol (the last symbol) of each index's row."""
  return (table.sizes - 1)[indexes]


def varint_bytes(values, xp=np):
  """Bytes of each value's zigzag varint in the escape block. xp: numpy, or jax.numpy where
  the finetuning loss counts them."""
  v = xp.asarray(values, np.int64) if xp is np else xp.asarray(values)
  u = xp.where(v < 0, -2 * v - 1, 2 * v)  # zigzag
  return 1 + sum((u >= 1 << (7 * i)).astype(v.dtype) for i in range(1, 5))


def ideal_bits(values: np.ndarray, indexes: np.ndarray, table: CodingTable) -> float:
  """−Σ log2 of each value's quantized probability (escapes counted at the escape mass only)."""
  values = np.asarray(values).reshape(-1).astype(np.int64)
  indexes = np.asarray(indexes).reshape(-1)
  cdf = table.cdf.astype(np.int64)
  symbols = values + table.offsets[indexes]
  escape = escape_symbols(table, indexes)
  symbols = np.where((symbols < 0) | (symbols > escape), escape, symbols)
  counts = cdf[indexes, symbols + 1] - cdf[indexes, symbols]
  return float(-np.sum(np.log2(counts / (1 << PRECISION))))
