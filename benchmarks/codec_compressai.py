"""CompressAI's mean-scale hyperprior on the same frames, for the speed ratio rdm / CompressAI.

    <compressai venv>/bin/python benchmarks/codec_compressai.py --frames DIR --out cai.json

Runs in its own environment (torch, torchvision, compressai; benchmarks/run.sh makes it) and
imports nothing from rdm. MeanScaleHyperprior(N, M) with random weights (speed does not depend
on training); frames are edge-padded to a multiple of 64 as rdm does. After one warm-up pass:
median seconds of compress() and decompress(), and of their network parts (g_a, h_a, h_s on the
encoder side; h_s, g_s on the decoder side) timed apart; range coding is the remainder.
"""
import argparse
import json
import pathlib
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from compressai.models import MeanScaleHyperprior


def timed(fn, *args):
  start = time.perf_counter()
  out = fn(*args)
  return out, time.perf_counter() - start


def bench_frame(net, x: np.ndarray, repeats: int) -> dict:
  h, w = x.shape[:2]
  t = torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255.0
  t = F.pad(t, (0, -w % 64, 0, -h % 64), mode='replicate')
  runs = []
  with torch.inference_mode():
    for _ in range(repeats + 1):
      r = {}
      out, r['encode_s'] = timed(net.compress, t)
      _, r['decode_s'] = timed(net.decompress, out['strings'], out['shape'])
      y, t_ga = timed(net.g_a, t)
      z, t_ha = timed(net.h_a, y)
      params, t_hs = timed(net.h_s, torch.round(z))
      _, t_gs = timed(net.g_s, torch.round(y - params.chunk(2, 1)[1]) + params.chunk(2, 1)[1])
      r['encode_net_s'] = t_ga + t_ha + t_hs
      r['decode_net_s'] = t_hs + t_gs
      r['bytes'] = sum(len(s[0]) for s in out['strings'])
      runs.append(r)
  res = {k: statistics.median(r[k] for r in runs[1:]) for k in runs[0]}
  res['encode_mpix_s'] = h * w / 1e6 / res['encode_s']
  res['decode_mpix_s'] = h * w / 1e6 / res['decode_s']
  return res


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--frames', required=True, type=pathlib.Path)
  parser.add_argument('--out', required=True, type=pathlib.Path)
  parser.add_argument('--N', type=int, default=64)
  parser.add_argument('--M', type=int, default=96)
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  import compressai
  torch.manual_seed(0)
  net = MeanScaleHyperprior(N=args.N, M=args.M).eval()
  net.update(force=True)
  results = {'compressai': compressai.__version__, 'torch': torch.__version__,
             'threads': torch.get_num_threads(), 'N': args.N, 'M': args.M, 'frames': {}}
  for path in sorted(args.frames.glob('*.npy'), key=lambda p: np.load(p, mmap_mode='r').size):
    r = bench_frame(net, np.load(path), args.repeats)
    results['frames'][path.stem] = r
    print(f'compressai {path.stem:>9}: encode {r["encode_s"]:.3f} s (net {r["encode_net_s"]:.3f}),'
          f' decode {r["decode_s"]:.3f} s (net {r["decode_net_s"]:.3f})', flush=True)
  args.out.write_text(json.dumps(results, indent=2) + '\n')


if __name__ == '__main__':
  main()
