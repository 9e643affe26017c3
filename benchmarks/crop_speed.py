"""How fast global training's input is made: ms per batch of random-scale crops, by threads.

    python benchmarks/crop_speed.py [--photos data/pack/train] [--workers 1,2]

On a lent GPU one thread of these crops held global training to 14 steps/s (WORKSPACE.md); a
device run's 16 cores give `batching.data_workers()` threads.
"""
import argparse
import time

import numpy as np
from PIL import Image

from rdm import batching
from rdm import data


def ms_per_batch(pil_images, workers: int, batch_size: int, crop: int, min_scale: float,
                 batches: int) -> float:
  stream = batching.prefetched(lambda step: batching.random_crops(
      pil_images, batch_size, crop, np.random.default_rng([0, step]), True, min_scale), 0, workers)
  next(stream)  # the pool's first batches start together
  start = time.perf_counter()
  for _ in range(batches):
    next(stream)
  return 1000 * (time.perf_counter() - start) / batches


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--photos', default='data/pack/train')
  p.add_argument('--workers', default='1,2')
  p.add_argument('--batch_size', type=int, default=16)
  p.add_argument('--crop', type=int, default=256)
  p.add_argument('--min_scale', type=float, default=0.125)
  p.add_argument('--batches', type=int, default=40)
  args = p.parse_args()
  pil_images = [Image.fromarray(data.load_image(f)) for f in data.photo_paths(args.photos)]
  for workers in map(int, args.workers.split(',')):
    ms = ms_per_batch(pil_images, workers, args.batch_size, args.crop, args.min_scale,
                      args.batches)
    print(f'{workers} threads: {ms:.1f} ms per batch of {args.batch_size} × {args.crop}² '
          f'({len(pil_images)} photos)')


if __name__ == '__main__':
  main()
