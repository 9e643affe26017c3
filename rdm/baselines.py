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
