"""RQ3: where the model update goes — per parameter group of δ̂ and the split of the bits.

    python experiments/rq3.py --video bikes --beta 128 [--steps 200]

Finetunes in full mode, codes the stream, and reports for every leaf group of δ̂ (each layer of
g_s and h_s, the z prior; kernels, biases and GDN parameters apart): parameters, fraction
non-zero, coded bits (flag + spike-and-slab table), mean |δ̂|; then header / update / z / y bits.
Writes experiments/results/rq3-<video>-b<beta>.json.
"""
import argparse
import json
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from experiments.sweep import point_config  # noqa: E402
from rdm import data, job, model_update, range_coding  # noqa: E402


def group_stats(delta_hat: dict, prior) -> list[dict]:
  table = model_update.update_table(prior)
  rows = []
  for name in sorted(delta_hat):
    k = model_update.update_integers({name: delta_hat[name]}, prior.t)
    # an unchanged leaf is not coded at all: one flag bit (the prior alone would charge it)
    coded = entropy_tables.ideal_bits(k, np.zeros_like(k), table) if k.any() else 0.0
    rows.append({'group': name, 'params': int(k.size), 'nonzero': float(np.mean(k != 0)),
                 'bits': 1 + coded,
                 'mean_abs_delta': float(np.mean(np.abs(delta_hat[name])))})
  return rows


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--video', default='bikes')
  p.add_argument('--beta', type=float, default=128.0)
  p.add_argument('--steps', type=int, default=200)
  p.add_argument('--model', default='msh-n64-beta128')
  args = p.parse_args()
  config = point_config(args.video, 'full', args.beta, args.model, {'adapt.steps': args.steps})
  frames = data.read_iframes(args.video)
  with tempfile.TemporaryDirectory() as work:
    encoded, adapted = job.adapt_and_encode(config, frames, pathlib.Path(work))
  rows = group_stats(adapted.delta_hat, adapted.prior)
  pixels = int(np.prod(frames.shape[:3]))
  print(f'{"group":<40}{"params":>9}{"nonzero":>9}{"bits":>10}{"mean|δ̂|":>11}')
  for r in rows:
    print(f'{r["group"]:<40}{r["params"]:>9}{r["nonzero"]:>9.4f}{r["bits"]:>10.0f}'
          f'{r["mean_abs_delta"]:>11.2e}')
  split = {k: 8 * v for k, v in encoded.sizes.items()}
  total = sum(split.values())
  print('bits: ' + ', '.join(f'{k} {v} ({100 * v / total:.1f}%)' for k, v in split.items()) +
        f'; {8 * len(encoded.data) / pixels:.4f} bpp over {pixels} pixels')
  out = pathlib.Path(__file__).resolve().parent / 'results' / f'rq3-{args.video}-b{args.beta:g}.json'
  out.write_text(json.dumps({'config': json.loads(config.to_json()), 'groups': rows,
                             'bits_split': split, 'pixels': pixels}, indent=1) + '\n')
  print(f'→ {out}')


if __name__ == '__main__':
  main()
