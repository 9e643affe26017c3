"""Mean-scale hyperprior (Minnen, Ballé, Toderici 2018, without the context model).

Architecture's options beyond N and M describe models trained elsewhere (CompressAI's
mbt2018-mean and bmshj2018-hyperprior: rdm/compressai_import.py); their defaults are rdm's own.
Over ~250 lines on purpose: each option changes the modules here, and one model with options
is what lets every rdm path (coding, adaptation, the update's groups) run on either kind.
Flax modules here only declare parameters and shapes. The codec itself is a set of pure functions
of (params, x, rng), where params = {'g_a', 'g_s', 'h_a', 'h_s', 'prior_z'}: that grouping is what
the model update δ addresses (the receiver holds g_s, h_s and prior_z).
"""
import dataclasses
import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rdm import entropy_models
from rdm import quantization

Params = Any
PAD_MULTIPLE = 64  # g_a downsamples by 16 and h_a by 4 more
RECEIVER_GROUPS = ('g_s', 'h_s', 'prior_z')
SENDER_GROUPS = ('g_a', 'h_a')
_PEDESTAL = 2.0 ** -36  # GDN reparameterisation offset (Ballé 2018): keeps gradients alive near 0


class GDN(nn.Module):
  """Generalized divisive normalization (Ballé et al. 2016); inverse=True gives IGDN."""
  inverse: bool = False
  beta_min: float = 1e-6
  gamma_init: float = 0.1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = x.shape[-1]
    beta_p = self.param('beta', lambda _, s: jnp.sqrt(jnp.ones(s) + _PEDESTAL), (c,))
    gamma_p = self.param(
        'gamma', lambda _, s: jnp.sqrt(self.gamma_init * jnp.eye(s[0]) + _PEDESTAL), (c, c))
    beta = jnp.maximum(beta_p, (self.beta_min + _PEDESTAL) ** 0.5) ** 2 - _PEDESTAL
    gamma = jnp.maximum(gamma_p, _PEDESTAL ** 0.5) ** 2 - _PEDESTAL
    norm = beta + jnp.einsum('...j,ij->...i', x * x, gamma)
    return x * jnp.sqrt(norm) if self.inverse else x * jax.lax.rsqrt(norm)


ALIGNMENTS = ('flax', 'torch')
SIGMAS = ('exp', 'identity')
HYPERPRIORS = ('mean-scale', 'scale-only')


def _conv(features: int, alignment: str, kernel: int = 5, stride: int = 2) -> nn.Conv:
  """alignment 'flax': 'SAME' padding (a stride-2 window starts one pixel before its centre);
  'torch': PyTorch's symmetric padding of kernel // 2 (the window centred on 2·i)."""
  padding = 'SAME' if alignment == 'flax' else [(kernel // 2, kernel // 2)] * 2
  return nn.Conv(features, (kernel, kernel), (stride, stride), padding=padding)


# Output phase (row parity of the 2× upsampled output) → the 5×5 kernel taps that reach it from
# input offsets −1, 0, +1; index 5 is a zero tap. 'flax': nn.ConvTranspose with 'SAME' padding;
# 'torch': PyTorch's ConvTranspose2d(stride=2, padding=2, output_padding=1) with its kernel
# flipped into this layout (rdm/compressai_import.py), which sits one output pixel earlier.
_PHASE_TAPS = {'flax': np.array([[1, 3, 5], [0, 2, 4]]), 'torch': np.array([[0, 2, 4], [5, 1, 3]])}


def _phase_kernel(w: jax.Array, alignment: str) -> jax.Array:
  """[5, 5, Cin, C] transposed-convolution kernel → [3, 3, Cin, 4·C] kernel of its 4 phases."""
  taps = _PHASE_TAPS[alignment]
  wpad = jnp.pad(w, ((0, 1), (0, 1), (0, 0), (0, 0)))
  k = wpad[taps[:, None, :, None], taps[None, :, None, :]]  # [2, 2, 3, 3, Cin, C]
  return jnp.transpose(k, (2, 3, 4, 0, 1, 5)).reshape(3, 3, w.shape[2], 4 * w.shape[3])


class ConvTranspose(nn.Module):
  """5×5, stride-2 transposed convolution with flax nn.ConvTranspose's parameters (and, aligned
  'flax', its 'SAME' output), computed as a 3×3 convolution into the 4 output phases followed by
  depth-to-space. XLA's CPU backend runs a transposed convolution over the zero-dilated input (4×
  the work); this form is ~2.5× faster and decoding is dominated by g_s (benchmarks/)."""
  features: int
  alignment: str = 'flax'

  @nn.compact
  def __call__(self, x):
    w = self.param('kernel', nn.initializers.lecun_normal(), (5, 5, x.shape[-1], self.features))
    b = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    y = jax.lax.conv_general_dilated(x, _phase_kernel(w, self.alignment).astype(x.dtype), (1, 1),
                                     ((1, 1), (1, 1)), dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    n, h, wd, _ = y.shape
    y = y.reshape(n, h, wd, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, 2 * h, 2 * wd, self.features) + b


class AnalysisTransform(nn.Module):
  """g_a: image in [0, 1] → y, 16× downsampled, M channels."""
  N: int
  M: int
  alignment: str = 'flax'

  @nn.compact
  def __call__(self, x):
    for _ in range(3):
      x = GDN()(_conv(self.N, self.alignment)(x))
    return _conv(self.M, self.alignment)(x)


class SynthesisTransform(nn.Module):
  """g_s: ŷ → image in [0, 1] (unclipped)."""
  N: int
  alignment: str = 'flax'

  @nn.compact
  def __call__(self, y_hat):
    x = y_hat
    for _ in range(3):
      x = GDN(inverse=True)(ConvTranspose(self.N, self.alignment)(x))
    return ConvTranspose(3, self.alignment)(x)


class HyperAnalysis(nn.Module):
  """h_a: y → z, 4× downsampled. scale-only (Ballé 2018): |y| in, ReLUs; mean-scale: leaky
  ReLUs."""
  N: int
  alignment: str = 'flax'
  hyperprior: str = 'mean-scale'

  @nn.compact
  def __call__(self, y):
    act = nn.leaky_relu if self.hyperprior == 'mean-scale' else nn.relu
    z = jnp.abs(y) if self.hyperprior == 'scale-only' else y
    z = act(_conv(self.N, self.alignment, 3, 1)(z))
    z = act(_conv(self.N, self.alignment)(z))
    return _conv(self.N, self.alignment)(z)


class HyperSynthesis(nn.Module):
  """h_s: ẑ → (mu, raw scale) for y. mean-scale: widths M, 3M/2, 2M, leaky ReLUs; scale-only:
  widths N, N, M, ReLUs (the last one too) and mu = 0."""
  N: int
  M: int
  alignment: str = 'flax'
  hyperprior: str = 'mean-scale'

  @nn.compact
  def __call__(self, z_hat):
    if self.hyperprior == 'scale-only':
      h = nn.relu(ConvTranspose(self.N, self.alignment)(z_hat))
      h = nn.relu(ConvTranspose(self.N, self.alignment)(h))
      raw = nn.relu(_conv(self.M, self.alignment, 3, 1)(h))
      return jnp.zeros_like(raw), raw
    h = nn.leaky_relu(ConvTranspose(self.M, self.alignment)(z_hat))
    h = nn.leaky_relu(ConvTranspose(self.M * 3 // 2, self.alignment)(h))
    h = _conv(self.M * 2, self.alignment, 3, 1)(h)
    return jnp.split(h, 2, axis=-1)


@dataclasses.dataclass(frozen=True)
class Architecture:
  """Static shape of a model: the modules whose parameters live in `params[group]`.

  alignment: where strided convolutions put their windows ('flax': rdm's models; 'torch':
  PyTorch's). sigma: σ = exp(raw) ('exp') or raw ('identity'), bounded below by SCALE_BOUND.
  hyperprior: 'mean-scale' (Minnen 2018) or 'scale-only' (Ballé 2018). z_filters: hidden widths
  of the factorized prior. z_offsets: z is quantized around a learned per-channel median
  (params['prior_z']['median']) rather than around 0.
  """
  N: int
  M: int
  alignment: str = 'flax'
  sigma: str = 'exp'
  hyperprior: str = 'mean-scale'
  z_filters: tuple[int, ...] = (3, 3, 3)
  z_offsets: bool = False

  def __post_init__(self):
    for name, allowed in (('alignment', ALIGNMENTS), ('sigma', SIGMAS),
                          ('hyperprior', HYPERPRIORS)):
      if getattr(self, name) not in allowed:
        raise ValueError(f'model.{name} must be one of {allowed}, not {getattr(self, name)!r}')
    object.__setattr__(self, 'z_filters', tuple(self.z_filters))

  @classmethod
  def from_config(cls, fields) -> 'Architecture':
    """From config.model or a manifest's config['model'] (older ones: N and M only)."""
    return cls(**{f.name: fields[f.name] for f in dataclasses.fields(cls) if f.name in fields})

  @functools.cached_property
  def modules(self) -> dict[str, nn.Module]:
    return {
        'g_a': AnalysisTransform(self.N, self.M, self.alignment),
        'g_s': SynthesisTransform(self.N, self.alignment),
        'h_a': HyperAnalysis(self.N, self.alignment, self.hyperprior),
        'h_s': HyperSynthesis(self.N, self.M, self.alignment, self.hyperprior),
        'prior_z': entropy_models.FactorizedPrior(self.N, self.z_filters, offsets=self.z_offsets),
    }

  def apply(self, group: str, params: Params, *args):
    return self.modules[group].apply({'params': params[group]}, *args)


@functools.partial(jax.jit, static_argnums=0)
def init_params(arch: Architecture, rng: jax.Array) -> Params:
  """Random θ for every group, from a 64×64 dummy image. One compiled program: run eagerly,
  every initializer of every shape compiles on its own (seconds each on XLA's CPU backend)."""
  keys = dict(zip(arch.modules, jax.random.split(rng, len(arch.modules))))
  x = jnp.zeros((1, PAD_MULTIPLE, PAD_MULTIPLE, 3))
  y = jnp.zeros((1, 4, 4, arch.M))
  z = jnp.zeros((1, 1, 1, arch.N))
  inputs = {'g_a': x, 'g_s': y, 'h_a': y, 'h_s': z, 'prior_z': z}
  return {g: m.init(keys[g], inputs[g])['params'] for g, m in arch.modules.items()}


def param_shapes(arch: Architecture) -> Params:
  """The shapes and dtypes of θ (no initialisation run: what a parameter file is checked
  against)."""
  return jax.eval_shape(functools.partial(init_params, arch), jax.random.PRNGKey(0))


def pad_to_multiple(x: jax.Array, multiple: int = PAD_MULTIPLE) -> jax.Array:
  """Edge-pads H and W of [B, H, W, C] up to a multiple (cropped again after decoding)."""
  h, w = x.shape[1:3]
  pad = ((0, 0), (0, -h % multiple), (0, -w % multiple), (0, 0))
  return jnp.pad(x, pad, mode='edge')


def sigma_from_raw(arch: Architecture, raw: jax.Array) -> jax.Array:
  """σ = exp(raw) (or raw itself) kept inside the range the Gaussian scale table covers."""
  sigma = jnp.exp(raw) if arch.sigma == 'exp' else raw
  return jnp.clip(sigma, entropy_models.SCALE_BOUND, entropy_models.SCALE_MAX)


def z_offset(arch: Architecture, params: Params):
  """The per-channel value z is quantized around: ẑ = round(z − m) + m (0 for rdm's models)."""
  return params['prior_z']['median'] if arch.z_offsets else 0.0


@flax.struct.dataclass
class HyperLatents:
  z_hat: jax.Array  # [B, h/64, w/64, N]
  mu: jax.Array  # [B, h/16, w/16, M]
  sigma: jax.Array  # [B, h/16, w/16, M]


def hyper_decode(arch: Architecture, params: Params, z_hat: jax.Array) -> HyperLatents:
  """ẑ → the Gaussian parameters of y (shared by the encoder and the decoder)."""
  mu, raw = arch.apply('h_s', params, z_hat)
  return HyperLatents(z_hat, mu, sigma_from_raw(arch, raw))


def synthesize(arch: Architecture, params: Params, y_hat: jax.Array, height: int, width: int):
  """ŷ → reconstruction on the 0–255 scale, cropped to the original size (not clipped)."""
  return 255.0 * arch.apply('g_s', params, y_hat)[:, :height, :width]


@flax.struct.dataclass
class Forward:
  x_hat: jax.Array  # [B, H, W, 3] on 0–255
  y: jax.Array  # [B, h, w, M] analysis output
  y_hat: jax.Array  # [B, h, w, M] what the decoder saw
  bits_y: jax.Array  # [] total over the batch
  bits_z: jax.Array  # []
  z: jax.Array  # [B, h/4, w/4, N]


def analyze(arch: Architecture, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """x on 0–255, any H×W → (y, z) of the padded image."""
  y = arch.apply('g_a', params, pad_to_multiple(x) / 255.0)
  return y, arch.apply('h_a', params, y)


def forward_from_latents(arch: Architecture, params: Params, y: jax.Array, z: jax.Array,
                         height: int, width: int, rng: jax.Array | None,
                         rate_mode: str, decoder_mode: str) -> Forward:
  """Everything after the encoders: quantize, price and decode given latents (y, z).

  rate_mode/decoder_mode: 'noise' or 'ste' for training, 'round' for evaluation.
  """
  rng_z, rng_y, rng_d = jax.random.split(rng, 3) if rng is not None else (None,) * 3
  offset = z_offset(arch, params)
  z_tilde = quantization.quantize_proxy(z, offset, rate_mode, rng_z)
  # The hyper-decoder always sees the rounded ẑ the receiver will have (straight-through).
  z_hat = quantization.ste_round(z - offset) + offset if rate_mode != 'round' else z_tilde
  hyper = hyper_decode(arch, params, z_hat)
  y_tilde = quantization.quantize_proxy(y, hyper.mu, rate_mode, rng_y)
  y_hat = quantization.quantize_proxy(y, hyper.mu, decoder_mode, rng_d)
  likelihood_z = entropy_models.factorized_likelihood(
      arch.modules['prior_z'], params['prior_z'], z_tilde)
  likelihood_y = entropy_models.gaussian_likelihood(y_tilde, hyper.mu, hyper.sigma)
  return Forward(
      x_hat=synthesize(arch, params, y_hat, height, width),
      y=y, y_hat=y_hat, z=z,
      bits_y=entropy_models.bits(likelihood_y),
      bits_z=entropy_models.bits(likelihood_z))


def forward(arch: Architecture, params: Params, x: jax.Array, rng: jax.Array | None,
            rate_mode: str = 'noise', decoder_mode: str = 'ste') -> Forward:
  """The whole codec on a batch x [B, H, W, 3] (0–255)."""
  y, z = analyze(arch, params, x)
  return forward_from_latents(arch, params, y, z, x.shape[1], x.shape[2], rng,
                              rate_mode, decoder_mode)


def parameter_count(params: Params) -> int:
  return sum(p.size for p in jax.tree_util.tree_leaves(params))
