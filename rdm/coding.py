"""Coding frames with a (possibly adapted) model θ: entropy tables from θ, frames ↔ bytes.

Bit-exactness rests on one rule: the encoder obtains μ and σ from ẑ through the very same
compiled function the decoder runs (conditional_params), and forms ŷ = v + μ in numpy on both sides,
so both see identical floats and pick identical scale-table rows.
"""
import contextlib
import dataclasses
import decimal
import functools
import time
import zlib

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from rdm import entropy_models
from rdm import entropy_tables
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


@functools.lru_cache(maxsize=1)
def scale_boundaries() -> np.ndarray:
  """float32 σ thresholds between neighbouring table rows (their log-scale midpoints),
  computed in correctly rounded decimal arithmetic, so they are the same bits everywhere."""
  lo, hi = decimal.Decimal(entropy_models.SCALE_BOUND).ln(), decimal.Decimal(
      entropy_models.SCALE_MAX).ln()
  step = (hi - lo) / (NUM_SCALES - 1)
  mids = [float((lo + step * (decimal.Decimal(i) + decimal.Decimal('0.5'))).exp())
          for i in range(NUM_SCALES - 1)]
  return np.asarray(mids, np.float32)


def scale_indexes(sigma: np.ndarray) -> np.ndarray:
  """Row of the Gaussian table for each float32 σ: nearest in log-scale. Found by comparing σ
  with fixed float32 thresholds — exact IEEE comparisons, no log() — so for the same σ every
  platform picks the same rows."""
  sigma = np.asarray(sigma, np.float32)
  if not np.all(np.isfinite(sigma)):
    raise ValueError('non-finite σ from the hyper-decoder')
  return np.searchsorted(scale_boundaries(), sigma, side='right').astype(np.int32)


@functools.lru_cache(maxsize=1)
def gaussian_table() -> entropy_tables.CodingTable:
  """Zero-mean discretized Gaussians, one row per table scale (v = round(y − μ) is coded)."""
  pmfs, offsets = [], []
  for s in scale_table():
    half = max(1, int(np.ceil(TAIL_SIGMAS * s)))
    v = np.arange(-half, half + 1, dtype=np.float64)
    pmfs.append(special.ndtr((v + 0.5) / s) - special.ndtr((v - 0.5) / s))
    offsets.append(half)
  return entropy_tables.table_from_pmfs(pmfs, offsets)


def z_offsets(arch: model.Architecture, params) -> np.ndarray:
  """float32 [N]: ẑ = symbol + offset per channel (zeros for rdm's own models)."""
  return np.broadcast_to(np.asarray(model.z_offset(arch, params), np.float32), (arch.N,))


def factorized_table(arch: model.Architecture, params) -> entropy_tables.CodingTable:
  """One row per channel of z from the learned prior, trimmed to where it has mass: the row of
  channel c gives symbol s the mass of the bin around s + offset_c."""
  grid = np.arange(-Z_RANGE, Z_RANGE + 1, dtype=np.float32)
  z = grid[:, None] + z_offsets(arch, params)[None, :]
  pmf = np.asarray(jax.jit(entropy_models.factorized_likelihood, static_argnums=0)(
      arch.modules['prior_z'], params['prior_z'], z), np.float64)
  pmfs, offsets = [], []
  for c in range(arch.N):
    keep = np.flatnonzero(pmf[:, c] >= Z_MIN_MASS)
    lo, hi = (keep[0], keep[-1]) if keep.size else (Z_RANGE, Z_RANGE)
    pmfs.append(pmf[lo:hi + 1, c])
    offsets.append(Z_RANGE - lo)
  return entropy_tables.table_from_pmfs(pmfs, offsets)


@functools.partial(jax.jit, static_argnums=0)
def analyze_params(arch, params, x):
  """(y, the symbols of z: round(z − offset))."""
  y, z = model.analyze(arch, params, x)
  return y, jnp.round(z - model.z_offset(arch, params))


@functools.partial(jax.jit, static_argnums=0)
def hyper_params(arch, params, z_hat):
  hyper = model.hyper_decode(arch, params, z_hat)
  return hyper.mu, hyper.sigma


@functools.partial(jax.jit, static_argnums=0)
def reconstruct_padded(arch, params, y_hat):
  """uint8-valued x̂ of the padded frame: one compiled function per padded size, so frames of
  any size that pad alike share it."""
  h, w = y_hat.shape[1] * 16, y_hat.shape[2] * 16
  return jnp.clip(jnp.round(model.synthesize(arch, params, y_hat, h, w)), 0, 255)


def reconstruct(arch, params, y_hat, height: int, width: int) -> np.ndarray:
  """x̂ [H, W, 3] uint8 from ŷ."""
  return np.asarray(reconstruct_padded(arch, params, y_hat), np.uint8)[0, :height, :width]


def pad_frame(x: np.ndarray) -> np.ndarray:
  """Edge-pad a frame [H, W, 3] to the model's multiple on the host, so the analysis transform
  compiles once per padded size rather than once per frame size."""
  h, w = x.shape[:2]
  return np.pad(x, ((0, -h % model.PAD_MULTIPLE), (0, -w % model.PAD_MULTIPLE), (0, 0)), 'edge')


@contextlib.contextmanager
def stage(timings: dict | None, name: str):
  """Adds the wall time of a block to timings[name] (benchmarks); a no-op when timings is None.
  Every stage ends on numpy values, so JAX's asynchronous dispatch cannot hide its work."""
  start = time.perf_counter()
  yield
  if timings is not None:
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


@dataclasses.dataclass(frozen=True)
class LatentCoder:
  """A model θ and the entropy tables derived from it."""
  arch: model.Architecture
  params: dict
  z_table: entropy_tables.CodingTable
  y_table: entropy_tables.CodingTable
  z_offsets: np.ndarray  # [N] float32: ẑ = symbol + offset

  def z_hat(self, symbols: np.ndarray) -> np.ndarray:
    """ẑ from the integer symbols of z, in float32 on both sides."""
    return symbols.astype(np.float32) + self.z_offsets


def make_coder(arch: model.Architecture, params) -> LatentCoder:
  return LatentCoder(arch, params, factorized_table(arch, params), gaussian_table(),
                     z_offsets(arch, params))


@dataclasses.dataclass(frozen=True)
class CodedFrame:
  z_bytes: bytes
  y_bytes: bytes
  index_crc: int  # CRC32 of the scale indexes: detects a decoder that picks other table rows
  x_hat: np.ndarray  # [H, W, 3] uint8, what the decoder will produce
  estimated_bits_y: float  # the model's −Σ log2 p with continuous σ (the training estimate)
  estimated_bits_z: float


def z_indexes(arch: model.Architecture, z_symbols: np.ndarray) -> np.ndarray:
  return np.broadcast_to(np.arange(arch.N, dtype=np.int32), z_symbols.shape)


def latent_shapes(arch: model.Architecture, height: int, width: int):
  """Shapes [1, h, w, C] of ŷ and ẑ for an image of height × width."""
  hp, wp = -(-height // model.PAD_MULTIPLE), -(-width // model.PAD_MULTIPLE)
  return (1, 4 * hp, 4 * wp, arch.M), (1, hp, wp, arch.N)


def conditional_params(coder: LatentCoder, z_symbols: np.ndarray):
  """(μ, σ, scale-table rows) of y from the symbols of ẑ: the one path both encoder and decoder
  take."""
  mu, sigma = hyper_params(coder.arch, coder.params, coder.z_hat(z_symbols))
  mu, sigma = np.asarray(mu), np.asarray(sigma)
  return mu, sigma, scale_indexes(sigma)


@functools.partial(jax.jit, static_argnums=0)
def _estimated_bits(arch, prior_z_params, y_hat, mu, sigma, z_hat):
  lik_y = entropy_models.gaussian_likelihood(y_hat, mu, sigma)
  lik_z = entropy_models.factorized_likelihood(arch.modules['prior_z'], prior_z_params, z_hat)
  return entropy_models.bits(lik_y), entropy_models.bits(lik_z)


def estimated_bits(coder: LatentCoder, y_hat, mu, sigma, z_symbols) -> tuple[float, float]:
  """The model's −Σ log2 p of ŷ (continuous σ, the training estimate) and of ẑ."""
  bits_y, bits_z = _estimated_bits(coder.arch, coder.params['prior_z'], y_hat, mu, sigma,
                                   coder.z_hat(z_symbols))
  return float(bits_y), float(bits_z)


def compress_frame(coder: LatentCoder, x: np.ndarray, latents=None,
                   timings: dict | None = None) -> CodedFrame:
  """One RGB uint8 frame [H, W, 3] → range-coded ẑ and ŷ.

  latents: optional (y, z) [1, h, w, C] to code instead of the encoder's (latents mode).
  timings: optional dict that receives seconds per stage (analysis, hyper, range_encode — the
  encoder proper — and reconstruct, estimate, which only report on the stream).
  """
  height, width = x.shape[:2]
  with stage(timings, 'analysis'):
    if latents is None:
      y, z_symbols = analyze_params(coder.arch, coder.params,
                                    jnp.asarray(pad_frame(x), jnp.float32)[None])
    else:
      y, z_symbols = latents[0], np.rint(np.asarray(latents[1]) - coder.z_offsets)
    y, z_symbols = np.asarray(y), np.asarray(z_symbols).astype(np.int32)
  with stage(timings, 'hyper'):
    mu, sigma, indexes = conditional_params(coder, z_symbols)
    v = np.rint(y - mu).astype(np.int32)
  with stage(timings, 'range_encode'):
    z_bytes = range_coding.encode(z_symbols, z_indexes(coder.arch, z_symbols), coder.z_table)
    y_bytes = range_coding.encode(v, indexes, coder.y_table)
  y_hat = v.astype(np.float32) + mu
  with stage(timings, 'reconstruct'):
    x_hat = reconstruct(coder.arch, coder.params, y_hat, height, width)
  with stage(timings, 'estimate'):
    bits_y, bits_z = estimated_bits(coder, y_hat, mu, sigma, z_symbols)
  return CodedFrame(z_bytes=z_bytes, y_bytes=y_bytes, index_crc=zlib.crc32(indexes.tobytes()),
                    x_hat=x_hat, estimated_bits_y=bits_y, estimated_bits_z=bits_z)


class IndexMismatch(ValueError):
  """The decoder derived other scale-table rows than the encoder (platform float difference)."""


def decompress_frame(coder: LatentCoder, z_bytes: bytes, y_bytes: bytes, height: int,
                     width: int, index_crc: int, timings: dict | None = None) -> np.ndarray:
  """Inverse of compress_frame: the identical uint8 reconstruction. timings: as in
  compress_frame (range_decode, hyper, synthesis)."""
  y_shape, z_shape = latent_shapes(coder.arch, height, width)
  with stage(timings, 'range_decode'):
    z_symbols = range_coding.decode(z_bytes, z_indexes(coder.arch, np.zeros(z_shape)),
                                    coder.z_table)
  with stage(timings, 'hyper'):
    mu, _, indexes = conditional_params(coder, z_symbols)
  if zlib.crc32(indexes.tobytes()) != index_crc:
    raise IndexMismatch('the scale indexes derived here differ from the encoder\'s (the adapted '
                        'model or this platform\'s arithmetic differs from the sender\'s); '
                        'refusing to return a wrong image')
  with stage(timings, 'range_decode'):
    v = range_coding.decode(y_bytes, indexes, coder.y_table)
  with stage(timings, 'synthesis'):
    return reconstruct(coder.arch, coder.params, v.astype(np.float32) + mu, height, width)
