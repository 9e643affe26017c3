"""Coding frames with a (possibly adapted) model θ: entropy tables from θ, frames ↔ bytes.

Bit-exactness rests on one rule: the encoder obtains μ and σ from ẑ through the very same
compiled function the decoder runs (conditional_params), and forms ŷ = v + μ in numpy on both sides,
so both see identical floats and pick identical scale-table rows.
"""
import dataclasses
import functools
import zlib

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from rdm import entropy_models
from rdm import metrics
from rdm import model
from rdm import range_coding

NUM_SCALES = 256  # rows of the Gaussian table, log-spaced over [SCALE_BOUND, SCALE_MAX]
TAIL_SIGMAS = 5.0  # Gaussian rows cover ±ceil(5σ); beyond it values take the escape
Z_RANGE = 255  # the factorized prior is tabulated on [-Z_RANGE, Z_RANGE]
Z_MIN_MASS = 1e-7  # per channel, symbols with less mass than this at both ends go to the escape

LOG_SCALE_MIN = float(np.log(entropy_models.SCALE_BOUND))
LOG_SCALE_STEP = float((np.log(entropy_models.SCALE_MAX) - LOG_SCALE_MIN) / (NUM_SCALES - 1))


def scale_table() -> np.ndarray:
  return np.exp(LOG_SCALE_MIN + LOG_SCALE_STEP * np.arange(NUM_SCALES))


def scale_indexes(sigma: np.ndarray) -> np.ndarray:
  """Row of the Gaussian table for each σ: nearest in log-scale."""
  log_sigma = np.log(np.asarray(sigma, np.float64))
  return np.clip(np.rint((log_sigma - LOG_SCALE_MIN) / LOG_SCALE_STEP), 0,
                 NUM_SCALES - 1).astype(np.int32)


@functools.lru_cache(maxsize=1)
def gaussian_table() -> range_coding.CodingTable:
  """Zero-mean discretized Gaussians, one row per table scale (v = round(y − μ) is coded)."""
  pmfs, offsets = [], []
  for s in scale_table():
    half = max(1, int(np.ceil(TAIL_SIGMAS * s)))
    v = np.arange(-half, half + 1, dtype=np.float64)
    pmfs.append(special.ndtr((v + 0.5) / s) - special.ndtr((v - 0.5) / s))
    offsets.append(half)
  return range_coding.table_from_pmfs(pmfs, offsets)


def factorized_table(arch: model.Architecture, params) -> range_coding.CodingTable:
  """One row per channel of z from the learned prior, trimmed to where it has mass."""
  grid = np.arange(-Z_RANGE, Z_RANGE + 1, dtype=np.float32)
  z = np.broadcast_to(grid[:, None], (grid.size, arch.N))
  pmf = np.asarray(jax.jit(entropy_models.factorized_likelihood, static_argnums=0)(
      arch.modules['prior_z'], params['prior_z'], z), np.float64)
  pmfs, offsets = [], []
  for c in range(arch.N):
    keep = np.flatnonzero(pmf[:, c] >= Z_MIN_MASS)
    lo, hi = (keep[0], keep[-1]) if keep.size else (Z_RANGE, Z_RANGE)
    pmfs.append(pmf[lo:hi + 1, c])
    offsets.append(Z_RANGE - lo)
  return range_coding.table_from_pmfs(pmfs, offsets)


@functools.partial(jax.jit, static_argnums=0)
def analyze_params(arch, params, x):
  y, z = model.analyze(arch, params, x)
  return y, jnp.round(z)


@functools.partial(jax.jit, static_argnums=0)
def hyper_params(arch, params, z_hat):
  hyper = model.hyper_decode(arch, params, z_hat)
  return hyper.mu, hyper.sigma


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def reconstruct(arch, params, y_hat, height, width):
  return jnp.clip(jnp.round(model.synthesize(arch, params, y_hat, height, width)), 0, 255)


@dataclasses.dataclass(frozen=True)
class LatentCoder:
  """A model θ and the entropy tables derived from it."""
  arch: model.Architecture
  params: dict
  z_table: range_coding.CodingTable
  y_table: range_coding.CodingTable


def make_coder(arch: model.Architecture, params) -> LatentCoder:
  return LatentCoder(arch, params, factorized_table(arch, params), gaussian_table())


@dataclasses.dataclass(frozen=True)
class CodedFrame:
  z_bytes: bytes
  y_bytes: bytes
  index_crc: int  # CRC32 of the scale indexes: detects a decoder that picks other table rows
  x_hat: np.ndarray  # [H, W, 3] uint8, what the decoder will produce
  estimated_bits_y: float  # the model's −Σ log2 p with continuous σ (the training estimate)
  estimated_bits_z: float


def z_indexes(arch: model.Architecture, z_hat: np.ndarray) -> np.ndarray:
  return np.broadcast_to(np.arange(arch.N, dtype=np.int32), z_hat.shape)


def latent_shapes(arch: model.Architecture, height: int, width: int):
  """Shapes [1, h, w, C] of ŷ and ẑ for an image of height × width."""
  hp, wp = -(-height // model.PAD_MULTIPLE), -(-width // model.PAD_MULTIPLE)
  return (1, 4 * hp, 4 * wp, arch.M), (1, hp, wp, arch.N)


def conditional_params(coder: LatentCoder, z_hat: np.ndarray):
  """(μ, σ, scale-table rows) of y from integer ẑ: the one path both encoder and decoder take."""
  mu, sigma = hyper_params(coder.arch, coder.params, z_hat.astype(np.float32))
  mu, sigma = np.asarray(mu), np.asarray(sigma)
  return mu, sigma, scale_indexes(sigma)


def compress_frame(coder: LatentCoder, x: np.ndarray, latents=None) -> CodedFrame:
  """One RGB uint8 frame [H, W, 3] → range-coded ẑ and ŷ.

  latents: optional (y, z) [1, h, w, C] to code instead of the encoder's (latents mode).
  """
  height, width = x.shape[:2]
  if latents is None:
    y, z_hat = analyze_params(coder.arch, coder.params, jnp.asarray(x, jnp.float32)[None])
  else:
    y, z_hat = latents[0], np.rint(latents[1])
  z_hat = np.asarray(z_hat).astype(np.int32)
  mu, sigma, indexes = conditional_params(coder, z_hat)
  v = np.rint(np.asarray(y) - mu).astype(np.int32)
  y_hat = v.astype(np.float32) + mu
  x_hat = np.asarray(reconstruct(coder.arch, coder.params, y_hat, height, width), np.uint8)[0]
  lik_y = entropy_models.gaussian_likelihood(y_hat, mu, sigma)
  lik_z = entropy_models.factorized_likelihood(coder.arch.modules['prior_z'],
                                               coder.params['prior_z'], z_hat.astype(np.float32))
  return CodedFrame(
      z_bytes=range_coding.encode(z_hat, z_indexes(coder.arch, z_hat), coder.z_table),
      y_bytes=range_coding.encode(v, indexes, coder.y_table),
      index_crc=zlib.crc32(indexes.tobytes()),
      x_hat=x_hat,
      estimated_bits_y=float(entropy_models.bits(lik_y)),
      estimated_bits_z=float(entropy_models.bits(lik_z)))


class IndexMismatch(ValueError):
  """The decoder derived other scale-table rows than the encoder (platform float difference)."""


def decompress_frame(coder: LatentCoder, z_bytes: bytes, y_bytes: bytes, height: int,
                     width: int, index_crc: int) -> np.ndarray:
  """Inverse of compress_frame: the identical uint8 reconstruction."""
  y_shape, z_shape = latent_shapes(coder.arch, height, width)
  z_hat = range_coding.decode(z_bytes, z_indexes(coder.arch, np.zeros(z_shape)), coder.z_table)
  mu, _, indexes = conditional_params(coder, z_hat)
  if zlib.crc32(indexes.tobytes()) != index_crc:
    raise IndexMismatch('the scale indexes derived here differ from the encoder\'s (the adapted '
                        'model or this platform\'s arithmetic differs from the sender\'s); '
                        'refusing to return a wrong image')
  v = range_coding.decode(y_bytes, indexes, coder.y_table)
  y_hat = v.astype(np.float32) + mu
  return np.asarray(reconstruct(coder.arch, coder.params, y_hat, height, width), np.uint8)[0]


def frame_psnr(x: np.ndarray, x_hat: np.ndarray) -> float:
  return metrics.psnr(metrics.rgb_mse(x, x_hat))
