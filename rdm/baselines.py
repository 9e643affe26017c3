"""Classical anchors on the same frames: bits from the encoded files, PSNR on 8-bit RGB."""
import io

import numpy as np
from PIL import Image

from rdm import metrics


def mean_psnr(frames: np.ndarray, x_hat: np.ndarray) -> float:
  """Mean over frames of each frame's RGB PSNR (how rdm scores every codec)."""
  return float(np.mean([metrics.psnr(metrics.rgb_mse(a, b)) for a, b in zip(frames, x_hat)]))


def jpeg_point(frames: np.ndarray, quality: int) -> dict:
  """Pillow JPEG, 4:2:0, at one quality: real bpp and mean PSNR."""
  total_bytes, decoded = 0, []
  for x in frames:
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, format='JPEG', quality=quality, subsampling=2)
    total_bytes += buf.tell()
    decoded.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert('RGB')))
  return {'codec': 'jpeg', 'quality': quality,
          'bpp': 8.0 * total_bytes / int(np.prod(frames.shape[:3])),
          'psnr': mean_psnr(frames, np.stack(decoded))}


def jpeg_curve(frames: np.ndarray, qualities=(10, 20, 30, 40, 50, 60, 70, 80, 90, 95)):
  return [jpeg_point(frames, q) for q in qualities]


# name: (file extension, ffmpeg encoder arguments with {q}, quality ladder, one file per frame).
# Still-image formats code each I-frame as its own file; HEVC and VVC code the I-frames as one
# all-intra stream (x265 without its info SEI: a ~2 kB text of its settings in every key frame).
# Every codec gets 4:2:0 YUV from ffmpeg's RGB conversion.
FFMPEG_CODECS = {
    'webp': ('webp', '-c:v libwebp -quality {q} -f webp', (95, 85, 75, 60, 45, 30, 15, 5), True),
    'jpegxl': ('jxl', '-c:v libjxl -distance {q} -f image2', (0.5, 1, 1.5, 2, 3, 4, 6, 9), True),
    'avif': ('avif', '-c:v libaom-av1 -still-picture 1 -cpu-used 6 -crf {q} -f avif',
             (12, 20, 27, 34, 40, 46, 52, 58), True),
    'hevc-intra': ('hevc', '-c:v libx265 -preset medium -x265-params '
                   'keyint=1:info=0:log-level=error -crf {q} -f hevc',
                   (12, 17, 22, 27, 32, 37, 42, 47), False),
    'vvc-intra': ('vvc', '-c:v libvvenc -preset fast -vvenc-params IntraPeriod=1 -qp {q} -f vvc',
                  (17, 22, 27, 32, 37, 42, 47, 51), False),
}


def _ffmpeg(args: list, stdin: bytes | None = None) -> bytes:
  import subprocess
  import imageio_ffmpeg
  result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), '-hide_banner', '-loglevel', 'error',
                           '-nostdin' if stdin is None else '-y', *args], input=stdin,
                          capture_output=True, check=False)
  if result.returncode:
    raise RuntimeError(f'ffmpeg {" ".join(args)} failed: {result.stderr.decode()[-500:]}')
  return result.stdout


def ffmpeg_roundtrip(frames: np.ndarray, codec: str, q) -> tuple[int, np.ndarray]:
  """(bytes of the encoded files, decoded frames) of [T, H, W, 3] uint8 through one codec."""
  import pathlib
  import tempfile
  ext, args, _, per_frame = FFMPEG_CODECS[codec]
  t, h, w, _ = frames.shape
  groups = [frames[i:i + 1] for i in range(t)] if per_frame else [frames]
  total, decoded = 0, []
  with tempfile.TemporaryDirectory() as tmp:
    for i, group in enumerate(groups):
      path = pathlib.Path(tmp) / f'{i}.{ext}'
      _ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', f'{w}x{h}', '-r', '2', '-i', '-',
               '-pix_fmt', 'yuv420p', *args.format(q=q).split(), str(path)],
              np.ascontiguousarray(group).tobytes())
      total += path.stat().st_size
      raw = _ffmpeg(['-i', str(path), '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'])
      decoded.append(np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3))
  decoded = np.concatenate(decoded)
  if decoded.shape != frames.shape:
    raise RuntimeError(f'{codec} decoded {decoded.shape[0]} frames of {frames.shape[0]}')
  return total, decoded


def ffmpeg_point(frames: np.ndarray, codec: str, q) -> dict:
  """One quality point of an ffmpeg codec: real bpp and mean RGB PSNR."""
  size, decoded = ffmpeg_roundtrip(frames, codec, q)
  return {'codec': codec, 'quality': q, 'bpp': 8.0 * size / int(np.prod(frames.shape[:3])),
          'psnr': mean_psnr(frames, decoded)}
