"""Training batches, each depending only on (seed, step) so that a resumed run sees the batches
it would have seen: random multi-scale crops of photos (global training), and whole I-frames or
their tiles in shuffled epochs (finetuning), made ahead by threads."""
import collections
import concurrent.futures
import os
from typing import Iterator

import numpy as np
from PIL import Image


def random_crop(image: Image.Image, crop: int, rng: np.random.Generator,
                min_scale: float = 1.0) -> np.ndarray:
  """A crop×crop patch of the image seen at a random scale s ∈ [min_scale, 1] (log-uniform,
  capped so the patch fits): a (crop/s)² region, downscaled with Lanczos. Scale 1 is a plain
  crop of the original pixels."""
  w, h = image.size
  lowest = max(min_scale, crop / min(h, w))
  scale = 1.0 if lowest >= 1.0 else float(np.exp(rng.uniform(np.log(lowest), 0.0)))
  side = min(h, w, max(crop, int(round(crop / scale))))
  top, left = rng.integers(h - side + 1), rng.integers(w - side + 1)
  box = (left, top, left + side, top + side)
  if side == crop:
    return np.asarray(image.crop(box))
  # resampling the box in place copies nothing first and holds no GIL: threads scale (WORKSPACE)
  return np.asarray(image.resize((crop, crop), Image.Resampling.LANCZOS, box=box))


def random_crops(images: list[Image.Image], batch_size: int, crop: int,
                 rng: np.random.Generator, flip: bool = True,
                 min_scale: float = 1.0) -> np.ndarray:
  """[B, crop, crop, 3] float32 on 0–255: random image, scale, position and (if flip)
  horizontal flip."""
  batch = np.empty((batch_size, crop, crop, 3), np.float32)
  for i in range(batch_size):
    patch = random_crop(images[rng.integers(len(images))], crop, rng, min_scale)
    batch[i] = patch[:, ::-1] if flip and rng.integers(2) else patch
  return batch


def prefetched(make_batch, start_step: int, workers: int = 1) -> Iterator[np.ndarray]:
  """Endless make_batch(step) for step = start_step, start_step + 1, …, in that order, made
  ahead by `workers` threads (on a lent GPU one thread of random-scale crops held global
  training to 14 steps/s, WORKSPACE.md)."""
  pool = concurrent.futures.ThreadPoolExecutor(workers)
  ahead = collections.deque(pool.submit(make_batch, start_step + k) for k in range(2 * workers))
  step = start_step + len(ahead)
  while True:
    batch = ahead.popleft().result()
    ahead.append(pool.submit(make_batch, step))
    step += 1
    yield batch


def data_workers() -> int:
  """Threads for making crops: the cores this process may use, one left to the training step."""
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  return max(1, min(8, (cores or 1) - 1))


def crop_batches(images: list[np.ndarray], batch_size: int, crop: int, seed: int,
                 start_step: int = 0, flip: bool = True,
                 min_scale: float = 1.0) -> Iterator[np.ndarray]:
  """Endless batches of random crops. Batch k depends only on (seed, k), so a resumed run sees
  the batches it would have seen."""
  pil_images = [Image.fromarray(image) for image in images]
  return prefetched(lambda step: random_crops(pil_images, batch_size, crop,
                                              np.random.default_rng([seed, step]), flip,
                                              min_scale), start_step, data_workers())


def tile_origins(length: int, side: int) -> np.ndarray:
  """Where side-long tiles start so that they cover [0, length) with as few as possible; where
  side does not divide length, the last tile is moved back to end at the border (overlapping)."""
  return np.round(np.linspace(0, length - side, -(-length // side))).astype(int)


def tiles(frames: np.ndarray, side: int) -> np.ndarray:
  """[T·n, side, side, 3]: every frame cut into side×side tiles covering each pixel once (twice
  where a last tile overlaps); frames smaller than side give one tile of their own size."""
  side_h, side_w = min(side, frames.shape[1]), min(side, frames.shape[2])
  return np.stack([frames[t, top:top + side_h, left:left + side_w]
                   for t in range(len(frames))
                   for top in tile_origins(frames.shape[1], side_h)
                   for left in tile_origins(frames.shape[2], side_w)])


def tile_batches(frames: np.ndarray, batch_size: int, side: int, seed: int, start_step: int = 0,
                 flip: bool = False) -> Iterator[np.ndarray]:
  """Endless batches of the frames' tiles (see tiles) in shuffled epochs, so that every pixel is
  seen equally often, as whole frames would be, at a fraction of a frame's cost per step; with
  flip, each tile flipped horizontally at random. Batch k depends only on (seed, k)."""
  parts = tiles(frames, side)
  batches = epoch_batches(parts, batch_size, seed, start_step)
  if not flip:
    return batches
  def flipped():
    for step, batch in enumerate(batches, start_step):
      mirror = np.random.default_rng([seed, step, 1]).integers(2, size=len(batch)).astype(bool)
      batch[mirror] = batch[mirror, :, ::-1]
      yield batch
  return flipped()


def epoch_batches(frames: np.ndarray, batch_size: int, seed: int,
                  start_step: int = 0) -> Iterator[np.ndarray]:
  """Endless batches of whole frames in shuffled epochs: every frame is seen equally often
  (a new permutation per epoch, from (seed, epoch)), and batch k depends only on (seed, k)."""
  n = len(frames)

  def batch(step):
    positions = np.arange(step * batch_size, (step + 1) * batch_size)
    order = {e: np.random.default_rng([seed, e]).permutation(n) for e in set(positions // n)}
    return frames[[order[p // n][p % n] for p in positions]].astype(np.float32)
  return prefetched(batch, start_step)
