"""Property tests: any pmf gives a valid CDF; any header round-trips; any bytes fail cleanly."""
import numpy as np
from hypothesis import given, settings, strategies as st

from rdm import container, entropy_tables

pmfs = st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=300)


@given(pmfs)
@settings(max_examples=200, deadline=None)
def test_any_pmf_gives_a_cdf_with_every_symbol_codable(pmf):
  cdf = entropy_tables.quantized_cdf(np.asarray(pmf))
  assert cdf[0] == 0 and cdf[-1] == 1 << entropy_tables.PRECISION
  assert np.all(np.diff(cdf) >= 1)


@given(st.lists(st.tuples(st.integers(1, container.MAX_SIDE), st.integers(1, container.MAX_SIDE),
                          st.integers(0, 2 ** 32 - 1), st.binary(max_size=20),
                          st.binary(max_size=20)), min_size=1, max_size=5),
       st.binary(max_size=30), st.binary(min_size=32, max_size=32))
@settings(max_examples=200, deadline=None)
def test_any_stream_round_trips_through_the_container(frames, update, model_id):
  s = container.Stream(model_id.hex(), tuple(container.Frame(h, w, c) for h, w, c, _, _ in frames),
                       update, tuple(f[3] for f in frames), tuple(f[4] for f in frames))
  assert container.read(container.write(s)) == s


@given(st.binary(max_size=400))
@settings(max_examples=500, deadline=None)
def test_arbitrary_bytes_are_rejected_with_format_error_or_are_a_well_formed_stream(raw):
  try:
    parsed = container.read(raw)
  except container.FormatError:
    return
  assert container.write(parsed) == raw  # whatever is accepted is exactly a stream rdm writes


@given(st.binary(min_size=1, max_size=64), st.integers(0, 10 ** 6))
@settings(max_examples=300, deadline=None)
def test_mutated_valid_streams_fail_with_format_error_or_parse_identically(patch, where):
  s = container.Stream('ab' * 32, (container.Frame(16, 24, 7),), b'update', (b'zz',), (b'yyy',))
  raw = bytearray(container.write(s))
  pos = where % len(raw)
  raw[pos:pos + len(patch)] = patch
  try:
    parsed = container.read(bytes(raw))
  except container.FormatError:
    return
  assert parsed == s  # only a patch equal to the bytes it covers may parse
