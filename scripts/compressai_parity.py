"""CompressAI's outputs for rdm's parity tests (tests/test_compressai_import.py), made where
CompressAI and torch are installed (rdm's own environment has neither):

    .venv-compressai/bin/python scripts/compressai_parity.py --out tests/data/compressai

For mbt2018-mean and bmshj2018-hyperprior, each at a small N/M and at the zoo's N=192/M=320, it
builds CompressAI's model with random weights drawn by random_state_dict (numpy, seeded per
array, so the suite draws the same ones without torch and the repository carries no weights),
fits the entropy bottleneck's quantiles to that density (CompressAI's update_quantiles: the medians
rdm imports) and runs it on a fixed image: y, z, ẑ, ŷ, the likelihoods of ŷ and ẑ, x̂ and the
bytes its own compress() writes go into <out>/<arch>-N<N>-M<M>.npz beside the quantiles, the
array names and shapes.

    .venv/bin/python scripts/compressai_parity.py --report

in rdm's environment instead prints the parity figures of those files: the largest error of each
tensor (absolute, relative where |value| > 1) and the bytes rdm and CompressAI write.
"""
import argparse
import ast
import pathlib
import zlib

import numpy as np

# (N, M, image height × width, multiples of 64): the files travel with the repository to every
# lent device, whose 64 MiB the tree, the packed photos and the models share: small images.
SIZES = ((16, 24, (64, 64)), (192, 320, (64, 128)))
ARCHS = ('mbt2018-mean', 'bmshj2018-hyperprior')
PEDESTAL = 2.0 ** -36  # CompressAI's (and rdm's) GDN reparametrisation offset


def fixed_image(height: int, width: int) -> np.ndarray:
  """[height, width, 3] uint8: smooth colour gradients, an edge, mild noise (deterministic)."""
  rng = np.random.default_rng(2021)
  u, v = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
  x = np.stack([0.2 + 0.6 * u, 0.5 + 0.3 * np.sin(6 * v), 0.3 + 0.4 * (u * v > 0.2)], -1)
  return np.clip(255 * x + rng.normal(0, 6, x.shape), 0, 255).astype(np.uint8)


def random_array(name: str, shape: tuple[int, ...], seed: int, arch: str) -> np.ndarray:
  """A plausible random value for CompressAI parameter `name` of `arch` (float32, seeded by
  name)."""
  rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
  if name == 'h_s.4.bias':  # σ of y about 3, as y's spread (its means, mbt2018's second half, ~0)
    scales = rng.normal(3.0, 0.3, shape)
    if arch == 'mbt2018-mean':
      scales[shape[0] // 2:] = rng.normal(0, 0.02, shape[0] // 2)
    return scales.astype(np.float32)
  leaf = name.rsplit('.', 1)[-1]
  if leaf == 'beta':  # GDN, stored reparametrised: sqrt(β + pedestal), β ≈ 1
    return np.sqrt(1 + rng.uniform(0, 0.2, shape) + PEDESTAL).astype(np.float32)
  if leaf == 'gamma':
    gamma = 0.1 * np.eye(shape[0]) + rng.uniform(0, 0.01, shape)
    return np.sqrt(gamma + PEDESTAL).astype(np.float32)
  if leaf.startswith('_matrix'):  # the entropy bottleneck's init (scale 10^(1/5)) and a jitter
    return (np.log(np.expm1(10 ** -0.2 / shape[1])) + rng.normal(0, 0.1, shape)).astype(
        np.float32)
  if leaf.startswith('_bias'):
    return rng.uniform(-0.5, 0.5, shape).astype(np.float32)
  if leaf.startswith('_factor'):
    return rng.normal(0, 0.3, shape).astype(np.float32)
  if leaf == 'quantiles':  # replaced by the fitted ones
    return np.tile(np.array([-10.0, 0.0, 10.0], np.float32), (shape[0], 1, 1))
  if leaf == 'bias':
    return rng.normal(0, 0.02, shape).astype(np.float32)
  # A weight: unit gain over its fan-in (a transposed conv's output sees 1/4 of its taps), but
  # y's last layer: ×10, so y spans ±10 or so, as a trained model's does, and g_s's first: ÷10,
  # so x̂ stays near [0, 1] rather than growing through three inverse GDNs; σ's layer: ×0.3.
  transposed = name.startswith(('g_s.', 'h_s.0.', 'h_s.2.'))  # ConvTranspose2d: [Cin, Cout, ...]
  fan_in = (shape[0] * shape[2] * shape[3] / 4) if transposed else np.prod(shape[1:])
  gain = {'g_a.6.weight': 10.0, 'g_s.0.weight': 0.1, 'h_s.4.weight': 0.3}.get(name, 1.0)
  return rng.normal(0, gain / np.sqrt(fan_in), shape).astype(np.float32)


def random_state_dict(shapes: dict, seed: int, arch: str) -> dict[str, np.ndarray]:
  return {name: random_array(name, tuple(shape), seed, arch) for name, shape in shapes.items()}


def load(path: pathlib.Path) -> tuple[dict, dict, str]:
  """(CompressAI's outputs, the state dict it ran with, its architecture) of a parity file."""
  f = dict(np.load(path))
  arch = path.name.split('-N')[0]
  shapes = {n: ast.literal_eval(s) for n, s in zip(f['names'], f['shapes'])}
  state = random_state_dict(shapes, int(f['seed']), arch)
  return f, {**state, 'entropy_bottleneck.quantiles': f['quantiles']}, arch


def relative_error(actual, expected) -> float:
  actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
  assert actual.shape == expected.shape, (actual.shape, expected.shape)
  return float((np.abs(actual - expected) / np.maximum(1.0, np.abs(expected))).max())


def parity(path: pathlib.Path) -> dict:
  """rdm's import of a parity file beside CompressAI's outputs: each tensor's largest error (each
  stage from CompressAI's own ẑ and ŷ, so every transform is compared by itself) and the bytes
  each writes."""
  from rdm import coding, compressai_import, entropy_models, model
  f, state, arch_name = load(path)
  arch = compressai_import.architecture(arch_name, state)
  params = compressai_import.convert(state, arch)
  x = f['x'][None].astype(np.float32)
  y, z = model.analyze(arch, params, x)
  hyper = model.hyper_decode(arch, params, f['z_hat'])
  coder = coding.make_coder(arch, params)
  _, z_symbols = coding.analyze_params(arch, params, x)
  coded = coding.compress_frame(coder, f['x'])
  return {
      'arch': arch,
      'y': relative_error(y, f['y']), 'z': relative_error(z, f['z']),
      'z_hat': relative_error(coder.z_hat(np.asarray(z_symbols, np.int32)), f['z_hat']),
      'y_hat': relative_error(model.forward(arch, params, x, None, 'round', 'round').y_hat,
                              f['y_hat']),
      'likelihood_y': relative_error(
          entropy_models.gaussian_likelihood(f['y_hat'], hyper.mu, hyper.sigma),
          f['likelihood_y']),
      'likelihood_z': relative_error(entropy_models.factorized_likelihood(
          arch.modules['prior_z'], params['prior_z'], f['z_hat']), f['likelihood_z']),
      'x_hat': relative_error(model.synthesize(arch, params, f['y_hat'], *f['x'].shape[:2])
                              / 255.0, f['x_hat']),
      'bytes_rdm': len(coded.z_bytes) + len(coded.y_bytes),
      'bytes_compressai': int(f['bytes_y'] + f['bytes_z'])}


def report(folder: pathlib.Path) -> None:
  tensors = ('y', 'z', 'z_hat', 'y_hat', 'likelihood_y', 'likelihood_z', 'x_hat')
  print(f'{"file":<34}' + ''.join(f'{t:>14}' for t in tensors) + '  bytes rdm / CompressAI')
  for path in sorted(folder.glob('*.npz')):
    r = parity(path)
    print(f'{path.stem:<34}' + ''.join(f'{r[t]:>14.1e}' for t in tensors) +
          f'  {r["bytes_rdm"]} / {r["bytes_compressai"]} '
          f'({100 * (r["bytes_rdm"] / r["bytes_compressai"] - 1):+.2f} %)')


def run(arch: str, n: int, m: int, seed: int, x: np.ndarray) -> dict:
  import compressai
  import torch
  from compressai.zoo.image import model_architectures
  torch.manual_seed(seed)
  net = model_architectures[arch](n, m).eval()
  shapes = {k: tuple(p.shape) for k, p in net.named_parameters()}
  state = random_state_dict(shapes, seed, arch)
  net.load_state_dict({**net.state_dict(), **{k: torch.from_numpy(v) for k, v in state.items()}})
  net.update(force=True, update_quantiles=True)
  eb, gc = net.entropy_bottleneck, net.gaussian_conditional
  with torch.no_grad():
    xt = torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255.0
    y = net.g_a(xt)
    z = net.h_a(torch.abs(y) if arch == 'bmshj2018-hyperprior' else y)
    z_hat, lik_z = eb(z)
    params = net.h_s(z_hat)
    if arch == 'mbt2018-mean':
      scales, means = params.chunk(2, 1)
    else:
      scales, means = params, None
    y_hat, lik_y = gc(y, scales, means=means)
    x_hat = net.g_s(y_hat)
    strings = net.compress(xt)['strings']
  nhwc = lambda t: t.permute(0, 2, 3, 1).numpy()
  return {
      'names': np.array(list(shapes)), 'shapes': np.array([str(s) for s in shapes.values()]),
      'seed': seed, 'quantiles': eb.quantiles.detach().numpy(), 'x': x,
      'y': nhwc(y), 'z': nhwc(z), 'z_hat': nhwc(z_hat), 'y_hat': nhwc(y_hat),
      'likelihood_y': nhwc(lik_y), 'likelihood_z': nhwc(lik_z), 'x_hat': nhwc(x_hat),
      'bytes_y': len(strings[0][0]), 'bytes_z': len(strings[1][0]),
      'versions': np.array([compressai.__version__, torch.__version__])}


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--out', type=pathlib.Path, default=pathlib.Path('tests/data/compressai'))
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--report', action='store_true', help="print rdm's parity with the files in "
                 '--out (in rdm\'s environment)')
  args = p.parse_args()
  if args.report:
    return report(args.out)
  args.out.mkdir(parents=True, exist_ok=True)
  for arch in ARCHS:
    for n, m, size in SIZES:
      result = run(arch, n, m, args.seed, fixed_image(*size))
      path = args.out / f'{arch}-N{n}-M{m}.npz'
      np.savez_compressed(path, **result)
      print(f'{path}: {result["bytes_y"]} + {result["bytes_z"]} bytes, '
            f'|y| ≤ {np.abs(result["y"]).max():.2f}, {path.stat().st_size} bytes on disk')


if __name__ == '__main__':
  main()
