"""Rate–distortion objectives.

L_RD  = D + β·R          (global training, Ballé et al. 2018)
L_RDM = D + β·(R + M)    (instance adaptation, van Rozendaal et al. 2021, eq. 3)
D is the MSE on the 0–255 scale; R and M are bits per pixel of the images being coded.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from rdm import metrics
from rdm import model


def distortion(x: jax.Array, x_hat: jax.Array) -> jax.Array:
  """D: mean squared error on the 0–255 scale."""
  return jnp.mean(jnp.square(x - x_hat))


def rd_objective(d, bpp, beta: float):
  """L = D + β·R: in training (R the latent bits per pixel, plus M when adapting), and of coded
  streams and the model's estimates (R from real bytes or estimated bits, M included)."""
  return d + beta * bpp


def rd_loss(fwd: model.Forward, x: jax.Array, beta: float, bpp_model: jax.Array = 0.0):
  """(L, metrics) for a batch.

  bpp_model is M: the update's bits over all pixels of the instance (all I-frames of the video,
  not just this batch), 0 for global training.
  """
  num_pixels = x.shape[0] * x.shape[1] * x.shape[2]
  # 1. D
  mse = distortion(x, fwd.x_hat)
  # 2. R: latent bits per pixel of the batch
  bpp_latent = metrics.bits_per_pixel(fwd.bits_y + fwd.bits_z, num_pixels)
  loss = rd_objective(mse, bpp_latent + bpp_model, beta)
  return loss, {
      'loss': loss, 'mse': mse, 'psnr': metrics.psnr(mse),
      'bpp': bpp_latent + bpp_model, 'bpp_latent': bpp_latent, 'bpp_model': bpp_model,
      'bpp_y': metrics.bits_per_pixel(fwd.bits_y, num_pixels),
      'bpp_z': metrics.bits_per_pixel(fwd.bits_z, num_pixels),
  }


analyze = jax.jit(model.analyze, static_argnums=0)


@functools.partial(jax.jit, static_argnums=0)
def _evaluation_metrics(arch, params, y, z, images):
  fwd = model.forward_from_latents(arch, params, y, z, images.shape[1], images.shape[2], None,
                                   'round', 'round')
  x_hat = jnp.clip(jnp.round(fwd.x_hat), 0, 255)
  return rd_loss(fwd.replace(x_hat=x_hat), images, 0.0)[1]


def evaluate(arch, params, images: np.ndarray, latents=None) -> dict:
  """Estimated bpp and PSNR of θ on images with rounded latents (the model's estimate, not coded
  bytes): global training's held-out evaluation and the leaf valuation of rdm.prune; compiled
  once per architecture and image shape. latents: the images' (y, z) from analyze() under θ's
  encoder, for a caller that evaluates several θ sharing one encoder (rdm.prune)."""
  images = jnp.asarray(images)
  y, z = analyze(arch, params, images) if latents is None else latents
  m = _evaluation_metrics(arch, params, y, z, images)
  return {k: float(v) for k, v in m.items() if k != 'loss'}
