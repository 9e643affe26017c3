"""Claims about the entropy coder: exact round trips, escapes, and bits near the ideal."""
import numpy as np
import pytest

from rdm import coding, entropy_tables, range_coding


def test_quantized_cdf_is_valid_for_skewed_and_degenerate_pmfs():
  for pmf in ([1.0], [0.5, 0.5], [1e-12, 1.0 - 2e-12, 1e-12], np.full(3000, 1 / 3000),
              [0.0, 0.0, 1.0]):
    cdf = entropy_tables.quantized_cdf(np.asarray(pmf))
    assert cdf[0] == 0 and cdf[-1] == 2 ** entropy_tables.PRECISION
    assert np.all(np.diff(cdf) >= 1)  # every symbol stays codable


def test_quantized_cdf_rejects_bad_pmfs():
  for pmf in ([], [np.nan, 1.0], [-0.1, 1.1]):
    with pytest.raises(range_coding.CodingError):
      entropy_tables.quantized_cdf(np.asarray(pmf))


def test_values_round_trip_exactly_including_escapes():
  rng = np.random.default_rng(0)
  table = coding.gaussian_table()
  indexes = rng.integers(0, table.rows, 5000).astype(np.int32)
  scales = coding.scale_table()[indexes]
  values = np.rint(rng.normal(0, scales)).astype(np.int32)
  values[:10] = [10 ** 6, -10 ** 6, 5000, -5000, 0, 1, -1, 2 ** 20, -(2 ** 20), 77]  # escapes
  stream = range_coding.encode(values, indexes, table)
  np.testing.assert_array_equal(range_coding.decode(stream, indexes, table), values)


@pytest.mark.parametrize('scale', [0.25, 1.0, 4.0, 16.0, 128.0])
def test_real_bits_are_the_tables_ideal_bits_plus_a_flush(scale):
  """The coder's model is the table itself (no requantization): 20k symbols cost their ideal
  bits to within the coder's final word, whatever the scale."""
  rng = np.random.default_rng(1)
  table = coding.gaussian_table()
  index = coding.scale_indexes(np.array([scale]))[0]
  indexes = np.full(20000, index, np.int32)
  values = np.rint(rng.normal(0, coding.scale_table()[index], indexes.size)).astype(np.int32)
  real = 8 * len(range_coding.encode(values, indexes, table))
  ideal = entropy_tables.ideal_bits(values, indexes, table)
  assert ideal - 8 <= real <= ideal + 48  # 8 bits of escape-block length, ≤ 32 of flush


def test_the_rarest_symbol_costs_exactly_its_16_bit_count():
  """A count of 1 in 2^16 is 16 bits in the coder too: an approximate requantization of the
  table would move it (and every other low count) by a fraction of a bit per symbol."""
  table = entropy_tables.table_from_pmfs([np.array([1.0 - 2.0 ** -17, 2.0 ** -17])], [0])
  cdf = table.cdf[0, :3]
  assert list(np.diff(cdf)) == [2 ** 16 - 2, 1]  # the second symbol and the escape: 1 count
  values = np.ones(10000, np.int32)
  real = 8 * len(range_coding.encode(values, np.zeros_like(values), table))
  assert 16 * values.size <= real <= 16 * values.size + 40


def test_a_truncated_range_code_is_not_reliably_detected_here_so_the_container_checks_it():
  """The range decoder reads a cut stream as if zeros followed (no end marker): some cuts decode
  to wrong values without complaint. That is why every section carries a CRC (test_codec:
  truncated → FormatError). None returns the original values."""
  table = coding.gaussian_table()
  indexes = np.full(4000, 100, np.int32)
  values = np.rint(np.random.default_rng(2).normal(0, 3, indexes.size)).astype(np.int32)
  stream = range_coding.encode(values, indexes, table)
  undetected = 0
  for cut in range(len(stream) // 2, len(stream) - 1, 7):
    try:
      decoded = range_coding.decode(stream[:cut], indexes, table)
    except range_coding.CodingError:
      continue
    undetected += 1
    assert decoded.shape == values.shape and not np.array_equal(decoded, values)
  assert undetected > 0


def test_mismatched_lengths_and_indexes_are_refused():
  table = coding.gaussian_table()
  with pytest.raises(range_coding.CodingError):
    range_coding.encode(np.zeros(3, np.int32), np.zeros(2, np.int32), table)
  with pytest.raises(range_coding.CodingError):
    range_coding.encode(np.zeros(2, np.int32), np.array([0, table.rows]), table)


@pytest.mark.parametrize('stream', [b'\xff\xff', b'\x00\x00\x00\x00\xff\xff',
                                    b'\x00\x00\x00\x00' + b'\xff' * 64, b'\x05\x00\x00\x00\x80'])
@pytest.mark.timeout(30)
def test_garbage_streams_decode_or_fail_within_a_second(stream):
  """The ops' overflow mode hung on b'\\xff\\xff' (fuzzer finding); rdm's escape block cannot."""
  import time
  table = coding.gaussian_table()
  indexes = np.random.default_rng(0).integers(0, table.rows, 256).astype(np.int32)
  start = time.time()
  try:
    range_coding.decode(stream, indexes, table)
  except range_coding.CodingError:
    pass
  assert time.time() - start < 1.0


def test_scale_indexes_match_a_float64_log_reference_away_from_row_boundaries():
  rng = np.random.default_rng(0)
  sigma = np.exp(rng.uniform(np.log(0.05), np.log(400), 200_000)).astype(np.float32)
  reference = np.clip(np.rint((np.log(sigma.astype(np.float64)) - coding.LOG_SCALE_MIN)
                              / coding.LOG_SCALE_STEP), 0, coding.NUM_SCALES - 1)
  # Where σ sits within float32 rounding of a midpoint both answers are right; elsewhere equal.
  position = (np.log(sigma.astype(np.float64)) - coding.LOG_SCALE_MIN) / coding.LOG_SCALE_STEP
  clear = np.abs(position - np.floor(position) - 0.5) > 1e-4
  np.testing.assert_array_equal(coding.scale_indexes(sigma)[clear], reference[clear])
  assert clear.mean() > 0.99
  # Exactly at a threshold, σ goes to the upper row; one float32 step below, to the lower.
  b = coding.scale_boundaries()
  np.testing.assert_array_equal(coding.scale_indexes(b), np.arange(1, coding.NUM_SCALES))
  below = np.nextafter(b, np.float32(0))
  np.testing.assert_array_equal(coding.scale_indexes(below), np.arange(coding.NUM_SCALES - 1))


def test_scale_index_thresholds_are_fixed_bits():
  """The thresholds come from decimal arithmetic: pin a few so a platform's libm cannot move
  them unnoticed."""
  b = coding.scale_boundaries()
  assert b.dtype == np.float32 and b.shape == (coding.NUM_SCALES - 1,)
  assert np.all(np.diff(b) > 0)
  assert [hex(b.view(np.uint32)[i]) for i in (0, 127, 254)] == [
      '0x3de4bb0a', '0x40a9cfaa', '0x437c2354']
