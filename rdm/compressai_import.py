"""CompressAI's mean-scale and scale hyperpriors as rdm θ_D: state dict → params, λ → β.

mbt2018-mean (Minnen 2018 without context) and bmshj2018-hyperprior (Ballé 2018) are rdm's model
with the Architecture options that describe how CompressAI builds them: PyTorch's convolution
alignment, σ taken as is (not exp), a factorized prior with four hidden layers, z quantized around
learned medians, and for bmshj2018-hyperprior the scale-only hyperprior. The conversion only
renames and re-lays out arrays (numpy in, numpy out): reading a .pth file needs torch, which stays
out of rdm's own environment (read_state_dict imports it only for such a file).
"""
import dataclasses
import hashlib
import pathlib
import re

import numpy as np

from rdm import errors
from rdm import model

# What CompressAI's two hyperprior families need of rdm's Architecture beyond N and M.
ARCHITECTURES = {
    'mbt2018-mean': {'hyperprior': 'mean-scale'},
    'bmshj2018-hyperprior': {'hyperprior': 'scale-only'},
}
COMMON = {'alignment': 'torch', 'sigma': 'identity', 'z_filters': (3, 3, 3, 3), 'z_offsets': True}
# CompressAI's zoo trained quality q at L = λ·255²·MSE[0,1] + bpp = λ·(MSE[0,255] + bpp/λ):
# rdm's β (L = MSE + β·bpp on 0–255) is 1/λ (https://interdigitalinc.github.io/CompressAI/zoo.html).
ZOO_LAMBDA = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932,
              8: 0.1800}
# torch module index → rdm module name, per group (CompressAI's nn.Sequential layouts).
G_A = {0: 'Conv_0', 1: 'GDN_0', 2: 'Conv_1', 3: 'GDN_1', 4: 'Conv_2', 5: 'GDN_2', 6: 'Conv_3'}
G_S = {0: 'ConvTranspose_0', 1: 'GDN_0', 2: 'ConvTranspose_1', 3: 'GDN_1', 4: 'ConvTranspose_2',
       5: 'GDN_2', 6: 'ConvTranspose_3'}
H_A = {0: 'Conv_0', 2: 'Conv_1', 4: 'Conv_2'}
H_S = {0: 'ConvTranspose_0', 2: 'ConvTranspose_1', 4: 'Conv_0'}
GROUPS = {'g_a': G_A, 'g_s': G_S, 'h_a': H_A, 'h_s': H_S}


class CheckpointError(errors.UserError):
  """A checkpoint that is not one of the architectures rdm imports."""


def beta_of_lambda(lmbda: float) -> float:
  return 1.0 / lmbda


def quality_from_name(path: str) -> int | None:
  """The zoo's quality from its file name (mbt2018-mean-3-723404a8.pth.tar → 3), if it says."""
  match = re.search(r'(?:mean|hyperprior)-(\d)-[0-9a-f]{8}', pathlib.Path(path).name)
  return int(match.group(1)) if match else None


def canonical_key(key: str) -> str:
  """The entropy bottleneck's arrays as CompressAI 1.2 names them (matrices.0, …), whichever of
  its earlier names a checkpoint uses (_matrices.0, _matrix0); no DataParallel prefix."""
  key = key.removeprefix('module.')
  match = re.fullmatch(r'entropy_bottleneck\._?(matri(?:x|ces)|bias(?:es)?|factors?)\.?(\d)', key)
  if match:
    plural = {'matr': 'matrices', 'bias': 'biases', 'fact': 'factors'}[match.group(1)[:4]]
    return f'entropy_bottleneck.{plural}.{match.group(2)}'
  return key


def read_state_dict(path: pathlib.Path) -> dict[str, np.ndarray]:
  """A CompressAI checkpoint as numpy arrays: a .npz of its state dict, or a torch file (a state
  dict, or a training checkpoint holding one under 'state_dict')."""
  if path.suffix == '.npz':
    with np.load(path) as f:
      state = {k: f[k] for k in f.files}
  else:
    try:
      import torch
    except ImportError as e:
      raise CheckpointError(f'{path}: reading a torch checkpoint needs torch (pip install '
                            'torch), or save its state dict as .npz where torch is') from e
    loaded = torch.load(path, map_location='cpu', weights_only=True)
    loaded = loaded.get('state_dict', loaded)
    state = {k: v.detach().numpy() for k, v in loaded.items()}
  return {canonical_key(k): np.asarray(v) for k, v in state.items()}


def architecture(arch_name: str, state: dict) -> model.Architecture:
  if arch_name not in ARCHITECTURES:
    raise CheckpointError(f'--arch must be one of {", ".join(ARCHITECTURES)}, not {arch_name!r}')
  try:
    n, m = state['g_a.0.weight'].shape[0], state['g_a.6.weight'].shape[0]
  except KeyError as e:
    raise CheckpointError(f'not a CompressAI {arch_name} state dict: no {e.args[0]}') from e
  return model.Architecture(int(n), int(m), **COMMON, **ARCHITECTURES[arch_name])


def conv_kernel(w: np.ndarray) -> np.ndarray:
  """torch Conv2d [Cout, Cin, kh, kw] → flax [kh, kw, Cin, Cout] (both cross-correlate)."""
  return w.transpose(2, 3, 1, 0)


def deconv_kernel(w: np.ndarray) -> np.ndarray:
  """torch ConvTranspose2d [Cin, Cout, kh, kw] → rdm's [kh, kw, Cin, Cout], flipped: rdm's
  ConvTranspose applies kernels the flax way, which is torch's with the taps reversed."""
  return w.transpose(2, 3, 0, 1)[::-1, ::-1]


def layer(state: dict, prefix: str, name: str) -> dict[str, np.ndarray]:
  """One rdm module's parameters from the torch layer at prefix."""
  if name.startswith('GDN'):
    return {'beta': state[f'{prefix}.beta'], 'gamma': state[f'{prefix}.gamma']}
  kernel = (deconv_kernel if name.startswith('ConvTranspose') else conv_kernel)(
      state[f'{prefix}.weight'])
  return {'kernel': kernel, 'bias': state[f'{prefix}.bias']}


def mean_first(params: dict, m: int) -> dict:
  """CompressAI's mean-scale h_s puts σ's M channels first (scales, means = chunk(2)); rdm's puts
  μ first."""
  order = np.r_[m:2 * m, 0:m]
  return {'kernel': params['kernel'][..., order], 'bias': params['bias'][order]}


def prior_z(state: dict, filters: tuple[int, ...]) -> dict[str, np.ndarray]:
  """EntropyBottleneck → rdm's FactorizedPrior: rdm adds its biases less ½ (its initializer draws
  U(0, 1)), so each is stored ½ higher; the median is quantiles[:, 0, 1]."""
  eb = 'entropy_bottleneck'
  out = {'median': state[f'{eb}.quantiles'][:, 0, 1]}
  for k in range(len(filters) + 1):
    out[f'matrix_{k}'] = state[f'{eb}.matrices.{k}']
    out[f'bias_{k}'] = state[f'{eb}.biases.{k}'] + np.float32(0.5)
    if k < len(filters):
      out[f'factor_{k}'] = state[f'{eb}.factors.{k}']
  return out


def convert(state: dict, arch: model.Architecture) -> dict:
  """rdm params (float32 numpy) of arch from CompressAI's state dict; a missing array is an
  error naming it, and zoo.params_from_state checks every shape."""
  from rdm import zoo
  try:
    params = {group: {name: layer(state, f'{group}.{index}', name)
                      for index, name in names.items()}
              for group, names in GROUPS.items()}
    params['prior_z'] = prior_z(state, arch.z_filters)
  except KeyError as e:
    raise CheckpointError(f'the state dict has no {e.args[0]}: not a CompressAI '
                          f'{arch.hyperprior} hyperprior of N={arch.N}, M={arch.M}') from e
  params = {g: {n: {k: np.ascontiguousarray(v, np.float32) for k, v in p.items()}
                if isinstance(p, dict) else np.ascontiguousarray(p, np.float32)
                for n, p in ps.items()} for g, ps in params.items()}
  try:
    params = zoo.params_from_state(params, arch)
  except ValueError as e:
    raise CheckpointError(f'not a CompressAI model of {arch}: {e}') from e
  if arch.hyperprior == 'mean-scale':
    params['h_s']['Conv_0'] = mean_first(params['h_s']['Conv_0'], arch.M)
  return params


def file_sha256(path: pathlib.Path) -> str:
  h = hashlib.sha256()
  with path.open('rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      h.update(block)
  return h.hexdigest()


def rd_on_clips(theta_d, beta: float, clips: tuple[str, ...], max_frames: int | None) -> dict:
  """Real-byte bpp, PSNR and coded L of θ_D as is on each clip's 2 fps I-frames (the
  reconstruction every decoder of the stream reproduces)."""
  from rdm import data, pipeline, stream
  out = {}
  for clip in clips:
    frames = data.read_iframes(clip, 2.0, max_frames)
    r = pipeline.summarize(frames, stream.encode_frames(theta_d, frames), beta)
    out[clip] = {'frames': len(frames), **{k: r[k] for k in ('bpp_total', 'psnr', 'L_rdm_coded')}}
  return out


def main(argv: list[str]) -> int:
  """rdm import-compressai CHECKPOINT --arch A --out models/NAME [--quality Q | --lmbda L]."""
  import argparse
  import shlex
  from rdm import zoo
  p = argparse.ArgumentParser(prog='rdm import-compressai', description=__doc__.split('\n')[0])
  p.add_argument('checkpoint', type=pathlib.Path, help="a CompressAI state dict: .pth(.tar) "
                 "(needs torch) or .npz")
  p.add_argument('--arch', required=True, choices=tuple(ARCHITECTURES))
  p.add_argument('--out', required=True, type=pathlib.Path, help='models/NAME')
  p.add_argument('--quality', type=int, choices=tuple(ZOO_LAMBDA),
                 help="the zoo's quality (default: from the file name)")
  p.add_argument('--lmbda', type=float, help='λ it was trained at, if not a zoo quality')
  p.add_argument('--rd_frames', type=int, default=0, help='I-frames of each bundled clip coded '
                 'for the manifest (0: all)')
  args = p.parse_args(argv)
  try:
    quality = args.quality or quality_from_name(str(args.checkpoint))
    lmbda = args.lmbda or ZOO_LAMBDA.get(quality)
    if lmbda is None:
      raise CheckpointError(f'{args.checkpoint.name}: give --quality (1–8) or --lmbda; the file '
                            'name does not say')
    if not args.checkpoint.is_file():
      raise CheckpointError(f'{args.checkpoint}: no such file')
    state = read_state_dict(args.checkpoint)
    arch = architecture(args.arch, state)
    params = convert(state, arch)
  except errors.UserError as e:
    return errors.report(e)
  beta = beta_of_lambda(lmbda)
  info = {'source': {'file': args.checkpoint.name, 'sha256': file_sha256(args.checkpoint),
                     'arch': args.arch, 'quality': quality, 'lambda': lmbda},
          'config': {'model': {f.name: getattr(arch, f.name)
                               for f in dataclasses.fields(arch)}, 'loss': {'beta': beta}},
          'command': shlex.join(['rdm', 'import-compressai', *argv])}
  theta_d = zoo.GlobalModel(arch, params, {**info, 'sha256': zoo.params_hash(params)})
  rd = rd_on_clips(theta_d, beta, ('bikes', 'carphone'), args.rd_frames or None)
  m = zoo.save_global_model(args.out.name, params, {**info, 'rd_2fps_iframes': rd},
                            args.out.parent)
  print(f'{args.out}: {args.arch} N={arch.N} M={arch.M}, λ={lmbda:g} (β={beta:.1f}), model '
        f'id {m["sha256"][:16]}…; ' + ', '.join(
            f'{clip} {r["bpp_total"]:.4f} bpp / {r["psnr"]:.2f} dB' for clip, r in rd.items()))
  return 0
