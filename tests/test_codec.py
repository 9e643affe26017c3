"""Claims about real bitstreams: bit-exact decoding elsewhere, honest sizes, clear errors."""
import struct
import time
import zlib

import numpy as np
import pytest

from conftest import ROOT, run_python
from rdm import coding, container, data, files, stream, zoo


def encode_tiny(frames, name='tiny-a'):
  return stream.encode_frames(zoo.load_global_model(name), frames)


def test_fresh_process_decode_reproduces_the_encoders_reconstruction(
    use_tiny_models, bikes_frames, tmp_path):
  encoded = encode_tiny(bikes_frames)
  path = tmp_path / 'bikes.rdm'
  files.write_atomic(path, encoded.data)
  result = run_python(['-m', 'rdm.codec', 'decompress', str(path), '-o', str(tmp_path / 'out')])
  assert result.returncode == 0, result.stderr[-2000:]
  decoded = np.stack([data.load_image(tmp_path / 'out' / f'frame_{i:04d}.png')
                      for i in range(len(bikes_frames))])
  np.testing.assert_array_equal(decoded, encoded.x_hat)


def test_chosen_frames_decode_alone_to_the_encoders_reconstruction(use_tiny_models,
                                                                  bikes_frames):
  frames = np.concatenate([bikes_frames[:, :64, :96], bikes_frames[:1, 64:128, :96]])
  encoded = encode_tiny(frames)
  np.testing.assert_array_equal(stream.decode(encoded.data, [2, 0]), encoded.x_hat[[2, 0]])
  with pytest.raises(container.FormatError, match='has 3 frames'):
    stream.decode(encoded.data, [3])


@pytest.mark.parametrize('height,width', [(1, 1), (65, 33), (144, 176), (720, 1280)])
def test_frame_sizes_round_trip(use_tiny_models, height, width):
  rng = np.random.default_rng(height)
  base = np.linspace(0, 255, height * width * 3).reshape(height, width, 3)
  frame = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)[None]
  encoded = encode_tiny(frame)
  np.testing.assert_array_equal(stream.decode(encoded.data), encoded.x_hat)
  assert encoded.x_hat.shape == frame.shape


def test_info_reports_every_part_and_psnr(use_tiny_models, bikes_frames, tmp_path):
  path = tmp_path / 'a.rdm'
  files.write_atomic(path, encode_tiny(bikes_frames[:1]).data)
  png = tmp_path / 'f.png'
  files.save_png(png, bikes_frames[0])
  result = run_python(['-m', 'rdm.codec', 'info', str(path), '--original', str(png)])
  assert result.returncode == 0, result.stderr[-2000:]
  for word in ('header', 'update', ' z ', ' y ', 'total', 'bpp', 'PSNR', 'tiny-a'):
    assert word in result.stdout.replace('\n', ' \n'), word


@pytest.fixture
def valid_stream(use_tiny_models, bikes_frames):
  return encode_tiny(bikes_frames[:1, :80, :96]).data


def corruptions(data):
  rng = np.random.default_rng(0)
  flipped = bytearray(data)
  flipped[len(data) // 2] ^= 0x10
  flipped_header = bytearray(data)
  flipped_header[40] ^= 0x01
  yield 'empty', b''
  yield 'truncated header', data[:10]
  yield 'truncated payload', data[:-3]
  yield 'trailing bytes', data + b'\0'
  yield 'payload bit flip', bytes(flipped)
  yield 'header bit flip', bytes(flipped_header)
  yield 'random', rng.integers(0, 256, 500, dtype=np.uint8).tobytes()
  yield 'random with magic', container.MAGIC + rng.integers(0, 256, 500, dtype=np.uint8).tobytes()


EXPECTED = {'empty': 'empty input', 'truncated header': 'truncated',
            'truncated payload': 'truncated', 'trailing bytes': 'trailing bytes',
            'payload bit flip': 'checksum mismatch in', 'header bit flip': 'header checksum',
            'random': 'not an .rdm stream',
            'random with magic': 'truncated|newer|older|checksum|sections'}


@pytest.mark.timeout(120)
def test_corrupt_streams_raise_format_error_naming_the_problem_quickly(valid_stream):
  for name, bad in corruptions(valid_stream):
    start = time.time()
    with pytest.raises(container.FormatError, match=EXPECTED[name]):
      stream.decode(bad)
    assert time.time() - start < 1.0, name


def with_header_field(data, offset, fmt, value):
  """Patch a header field and recompute the header CRC (a well-formed but different stream)."""
  s = container.read(data)
  header_len = len(data) - sum(len(p) for p in (s.update, *s.z, *s.y))
  patched = bytearray(data)
  struct.pack_into(fmt, patched, offset, value)
  struct.pack_into('<I', patched, header_len - 4, zlib.crc32(bytes(patched[:header_len - 4])))
  return bytes(patched)


def test_newer_format_version_is_refused_by_name(valid_stream):
  with pytest.raises(container.FormatError, match='newer'):
    stream.decode(with_header_field(valid_stream, 4, '<B', container.VERSION + 1))


def test_stream_for_another_global_model_is_refused(valid_stream, use_tiny_models):
  other = bytes.fromhex(zoo.manifest('tiny-b')['sha256'])
  unknown = with_header_field(valid_stream, 5, '<32s', b'\x07' * 32)
  with pytest.raises(container.FormatError, match='no shipped global model'):
    stream.decode(unknown)
  # Known but different θ_D: decoding with it would give garbage; the index checksum refuses.
  with pytest.raises(container.FormatError):
    stream.decode(with_header_field(valid_stream, 5, '<32s', other))


def test_cli_exits_2_with_a_message_on_a_bad_file(tmp_path):
  bad = tmp_path / 'bad.rdm'
  bad.write_bytes(b'not an rdm file at all')
  result = run_python(['-m', 'rdm.codec', 'decompress', str(bad), '-o', str(tmp_path / 'o')])
  assert result.returncode == 2
  assert 'not an .rdm stream' in result.stderr


def test_a_stream_of_the_previous_format_names_its_version_and_its_decoder(tmp_path):
  """tests/data/carphone-crop-format3.rdm: a real format-3 stream (TensorFlow's range coder),
  written by rdm 0.1.0 at commit 830a3eb from a 64×48 crop of carphone (msh-n64-beta2048)."""
  old = ROOT / 'tests' / 'data' / 'carphone-crop-format3.rdm'
  with pytest.raises(container.FormatError, match='format version 3 .* decoded by rdm 0.1.0'):
    stream.decode(old.read_bytes())
  result = run_python(['-m', 'rdm.codec', 'decompress', str(old), '-o', str(tmp_path / 'o')])
  assert result.returncode == 2 and 'Traceback' not in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1
  assert 'format version 3' in result.stderr and '830a3eb' in result.stderr


@pytest.mark.skipif(not zoo.available(), reason='no shipped model in models/')
def test_real_latent_bits_are_within_one_percent_of_the_estimate_on_a_real_frame(bikes_frames):
  name = zoo.available()[0]
  encoded = stream.encode_frames(zoo.load_global_model(name), bikes_frames[:1])
  real = 8 * (encoded.sizes['y'] + encoded.sizes['z'])
  estimate = encoded.estimated_bits['y'] + encoded.estimated_bits['z']
  print(f'{name}: real/estimated latent bits = {real / estimate:.4f}')
  assert abs(real / estimate - 1) < 0.01


@pytest.mark.optimized
def test_cli_compress_then_decompress_images(use_tiny_models, bikes_frames, tmp_path):
  pngs = []
  for i, f in enumerate(bikes_frames):
    pngs.append(tmp_path / f'{i}.png')
    files.save_png(pngs[-1], f[:100, :120])
  out = tmp_path / 'x.rdm'
  result = run_python(['-m', 'rdm.codec', 'compress', *map(str, pngs), '-o', str(out),
                       '--model', 'tiny-a'])
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'bpp' in result.stdout and 'PSNR' in result.stdout
  result = run_python(['-m', 'rdm.codec', 'decompress', str(out), '-o', str(tmp_path / 'd')])
  assert result.returncode == 0, result.stderr[-2000:]
  in_process = stream.decode(out.read_bytes())
  assert in_process.shape == (len(pngs), 100, 120, 3)
  decoded = np.stack([data.load_image(tmp_path / 'd' / f'frame_{i:04d}.png')
                      for i in range(len(pngs))])
  np.testing.assert_array_equal(decoded, in_process)
  # The same through the `rdm` console script, to one .npy array.
  result = run_python(['-m', 'rdm.cli', 'decompress', str(out), '-o', str(tmp_path / 'd.npy')])
  assert result.returncode == 0, result.stderr[-2000:]
  np.testing.assert_array_equal(np.load(tmp_path / 'd.npy'), in_process)


def test_the_rdm_command_explains_itself_and_refuses_unknown_commands():
  result = run_python(['-m', 'rdm.cli', '--help'])
  assert result.returncode == 0
  for command in ('compress', 'decompress', 'info', 'adapt', 'train'):
    assert f'rdm {command}' in result.stdout
  result = run_python(['-m', 'rdm.cli', 'bogus'])
  assert result.returncode == 64 and 'rdm compress' in result.stderr


def test_the_same_input_and_config_give_byte_identical_streams_across_processes(
    use_tiny_models, bikes_frames, tmp_path):
  png = tmp_path / 'f.png'
  files.save_png(png, bikes_frames[0, :100, :120])
  outputs = []
  for run in range(2):
    out = tmp_path / f'{run}.rdm'
    result = run_python(['-m', 'rdm.codec', 'compress', str(png), '-o', str(out), '--model',
                         'tiny-a', '--adapt', 'full', '--steps', '2'])
    assert result.returncode == 0, result.stderr[-2000:]
    outputs.append(out.read_bytes())
  # (δ̂ ≠ 0 in a byte-identical stream: tests/test_adapt.py, on one and on two devices)
  assert outputs[0] == outputs[1] and container.read(outputs[0]).frames


def test_frames_of_one_padded_size_share_compiled_functions(use_tiny_models, bikes_frames):
  theta_d = zoo.load_global_model('tiny-a')
  coder = coding.make_coder(theta_d.arch, theta_d.params)
  compiled = (coding.analyze_params, coding.hyper_params, coding.reconstruct_padded)
  coding.compress_frame(coder, bikes_frames[0, :100, :120])
  before = [f._cache_size() for f in compiled]
  for h, w in ((90, 110), (128, 128), (65, 70)):  # all pad to 128×128
    coded = coding.compress_frame(coder, bikes_frames[0, :h, :w])
    x_hat = coding.decompress_frame(coder, coded.z_bytes, coded.y_bytes, h, w, coded.index_crc)
    np.testing.assert_array_equal(x_hat, coded.x_hat)
  assert [f._cache_size() for f in compiled] == before
