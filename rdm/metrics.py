"""Rate and distortion in the units the paper reports."""
import math

import jax.numpy as jnp
import numpy as np


def psnr(mse, peak: float = 255.0):
  """PSNR in dB of an MSE measured on the 0–peak scale."""
  if isinstance(mse, (float, int, np.floating)):
    return 10.0 * math.log10(peak * peak / max(float(mse), 1e-10))
  return 10.0 * jnp.log10(peak * peak / jnp.maximum(mse, 1e-10))


def bits_per_pixel(bits, num_pixels: int):
  return bits / num_pixels


def rgb_mse(a: np.ndarray, b: np.ndarray) -> float:
  """MSE of two uint8 RGB images (what every codec in rdm's reports is scored on)."""
  return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
