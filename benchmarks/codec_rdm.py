"""rdm's global codec on real frames: speed per stage and real / estimated latent bits.

    python benchmarks/codec_rdm.py --frames DIR --out rdm_codec.json [--model ...] [--repeats 5]

DIR holds <size>.npy frames [H, W, 3] uint8 (benchmarks/bench.py writes them, the same files
CompressAI gets). After one compiling pass: median seconds of each stage of
coding.compress_frame / decompress_frame, network (analysis, hyper, synthesis) and range coding
apart, megapixels per second, the count of compilations after warm-up, and real / estimated
latent bits. The decode is checked to be bit-exact.
"""
import argparse
import json
import pathlib
import statistics


import numpy as np

from rdm import coding, zoo

ENCODE = ('analysis', 'hyper', 'range_encode')
DECODE = ('range_decode', 'hyper', 'synthesis')
NETWORK = ('analysis', 'hyper', 'synthesis')


def compiled_functions() -> int:
  return sum(f._cache_size() for f in (coding.analyze_params, coding.hyper_params,
                                       coding.reconstruct_padded))


def bench_frame(coder, x: np.ndarray, repeats: int) -> dict:
  h, w = x.shape[:2]
  enc, dec = [], []
  for i in range(repeats + 1):
    if i == 1:
      compiled = compiled_functions()
    te, td = {}, {}
    coded = coding.compress_frame(coder, x, timings=te)
    x_hat = coding.decompress_frame(coder, coded.z_bytes, coded.y_bytes, h, w, coded.index_crc,
                                    timings=td)
    enc.append(te)
    dec.append(td)
  if not np.array_equal(x_hat, coded.x_hat):
    raise RuntimeError(f'{w}x{h}: decode is not bit-exact')

  def median(runs, stage):
    return statistics.median(r[stage] for r in runs[1:])
  out = {f'enc_{s}': median(enc, s) for s in ENCODE} | {f'dec_{s}': median(dec, s) for s in DECODE}
  out['encode_s'] = sum(out[f'enc_{s}'] for s in ENCODE)
  out['decode_s'] = sum(out[f'dec_{s}'] for s in DECODE)
  out['encode_net_s'] = sum(out[f'enc_{s}'] for s in ENCODE if s in NETWORK)
  out['decode_net_s'] = sum(out[f'dec_{s}'] for s in DECODE if s in NETWORK)
  real = 8 * (len(coded.y_bytes) + len(coded.z_bytes))
  out.update(
      encode_mpix_s=h * w / 1e6 / out['encode_s'], decode_mpix_s=h * w / 1e6 / out['decode_s'],
      compilations_after_warmup=compiled_functions() - compiled,
      real_over_estimated=real / (coded.estimated_bits_y + coded.estimated_bits_z),
      bpp=real / (h * w))
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--frames', required=True, type=pathlib.Path)
  parser.add_argument('--out', required=True, type=pathlib.Path)
  parser.add_argument('--model', default='msh-n64-beta128')
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  theta_d = zoo.load_global_model(args.model)
  arch, params = theta_d.arch, theta_d.params
  coder = coding.make_coder(arch, params)
  results = {'model': args.model, 'N': arch.N, 'M': arch.M, 'frames': {}}
  for path in sorted(args.frames.glob('*.npy'), key=lambda p: np.load(p, mmap_mode='r').size):
    r = bench_frame(coder, np.load(path), args.repeats)
    results['frames'][path.stem] = r
    print(f'rdm {path.stem:>9}: encode {r["encode_s"]:.3f} s (net {r["encode_net_s"]:.3f}), '
          f'decode {r["decode_s"]:.3f} s (net {r["decode_net_s"]:.3f}), '
          f'real/est {r["real_over_estimated"]:.4f}, recompiles {r["compilations_after_warmup"]}',
          flush=True)
  args.out.write_text(json.dumps(results, indent=2) + '\n')


if __name__ == '__main__':
  main()
