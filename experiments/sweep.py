"""Resumable sweeps of the adaptation job: one JSON line per finished point.

    python experiments/sweep.py --out experiments/results/rq1-bikes.jsonl --video bikes \
        --modes none,encoder,full --betas 8,32,128,512,2048 [--set adapt.steps=1000 ...]

Each point is (video, mode, β, t, ablations, overrides). Points already in --out are skipped,
so an interrupted sweep continues where it stopped. The global model for β is
msh-n64-beta<β> when shipped, else --model. Every rate is from real bytes (the update
included), and every stream is decoded and compared with the encoder's reconstruction.
"""
import argparse
import json
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from configs import base  # noqa: E402
from rdm import data, job, stream, zoo  # noqa: E402


def parse_value(text: str):
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return {'true': True, 'false': False}.get(text.lower(), text)


def point_config(video, mode, beta, model, overrides):
  c = base.get_config()
  c.data.video = video
  c.adapt.mode = mode
  c.loss.beta = beta
  c.global_model = model
  for key, value in overrides.items():
    *parents, leaf = key.split('.')
    node = c
    for p in parents:
      node = node[p]
    node[leaf] = type(node[leaf])(value) if not isinstance(node[leaf], bool) else bool(value)
  c.lock()
  return c


def model_for(beta: float, default: str) -> str:
  name = f'msh-n64-beta{beta:g}'
  return name if name in zoo.available() else default


def model_id(name: str) -> str:
  """name@hash: results keyed by it make a retrained model of the same name a new point."""
  return f'{name}@{zoo.manifest(name)["sha256"][:12]}'


def done_keys(path: pathlib.Path) -> set:
  if not path.exists():
    return set()
  return {json.loads(l)['key'] for l in path.read_text().splitlines() if l.strip()}


def run_point(config, frames, workdir: pathlib.Path | None = None) -> dict:
  """Adapt, code, decode and check one point; workdir (kept) lets a later point resume."""
  with tempfile.TemporaryDirectory() as work:
    start = time.time()
    encoded, adapted = job.adapt_and_encode(config, frames, workdir or pathlib.Path(work))
    seconds = time.time() - start
  if not np.array_equal(stream.decode(encoded.data), encoded.x_hat):
    raise RuntimeError('decoded frames differ from the encoder\'s reconstruction')
  return {**job.summarize(frames, encoded, encoded.x_hat), 'seconds': seconds,
          'history': adapted.history[-1:] if adapted.history else []}


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--out', required=True, type=pathlib.Path)
  p.add_argument('--video', default='bikes')
  p.add_argument('--modes', default='none,encoder,full')
  p.add_argument('--betas', default='8,32,128,512,2048')
  p.add_argument('--model', default='msh-n64-beta128')
  p.add_argument('--set', nargs='*', default=[], help='config overrides, e.g. adapt.steps=200')
  p.add_argument('--tag', default='', help='label stored with each point (e.g. noM)')
  args = p.parse_args()
  overrides = dict(kv.split('=', 1) for kv in args.set)
  overrides = {k: parse_value(v) for k, v in overrides.items()}
  args.out.parent.mkdir(parents=True, exist_ok=True)
  finished = done_keys(args.out)
  frames = None
  for mode in args.modes.split(','):
    for beta in (float(b) for b in args.betas.split(',')):
      model = model_for(beta, args.model)
      config = point_config(args.video, mode, beta, model, overrides)
      key = (f'{args.video}|{model_id(model)}|{job.run_name(config)}|'
             f'{json.dumps(overrides, sort_keys=True)}')
      if key in finished:
        print(f'skip {key}')
        continue
      if frames is None:
        frames = data.read_iframes(args.video, config.data.fps, config.data.max_frames or None)
      result = run_point(config, frames)
      record = {'key': key, 'video': args.video, 'mode': mode, 'beta': beta, 'model': model,
                'tag': args.tag, 'overrides': overrides, 'date': time.strftime('%Y-%m-%d'),
                **result}
      with args.out.open('a') as f:
        f.write(json.dumps(record) + '\n')
      print(f'{key}: {result["bpp_total"]:.4f} bpp (model {result["bpp_model"]:.4f}), '
            f'{result["psnr"]:.2f} dB, {result["seconds"]:.0f} s', flush=True)


if __name__ == '__main__':
  main()
