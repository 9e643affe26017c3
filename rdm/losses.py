"""Rate–distortion objectives.

L_RD  = D + β·R          (global training, Ballé et al. 2018)
L_RDM = D + β·(R + M)    (instance adaptation, van Rozendaal et al. 2021, eq. 3)
D is the MSE on the 0–255 scale; R and M are bits per pixel of the images being coded.
"""
import jax
import jax.numpy as jnp

from rdm import metrics
from rdm.model import Forward


def distortion(x: jax.Array, x_hat: jax.Array) -> jax.Array:
  """D: mean squared error on the 0–255 scale."""
  return jnp.mean(jnp.square(x - x_hat))


def rd_loss(fwd: Forward, x: jax.Array, beta: float, bpp_model: jax.Array = 0.0):
  """(L, metrics) for a batch.

  bpp_model is M: the update's bits over all pixels of the instance (all I-frames of the video,
  not just this batch), 0 for global training.
  """
  num_pixels = x.shape[0] * x.shape[1] * x.shape[2]
  # 1. D
  mse = distortion(x, fwd.x_hat)
  # 2. R: latent bits per pixel of the batch
  bpp_latent = metrics.bits_per_pixel(fwd.bits_y + fwd.bits_z, num_pixels)
  loss = mse + beta * (bpp_latent + bpp_model)
  return loss, {
      'loss': loss, 'mse': mse, 'psnr': metrics.psnr(mse),
      'bpp': bpp_latent + bpp_model, 'bpp_latent': bpp_latent, 'bpp_model': bpp_model,
      'bpp_y': metrics.bits_per_pixel(fwd.bits_y, num_pixels),
      'bpp_z': metrics.bits_per_pixel(fwd.bits_z, num_pixels),
  }
