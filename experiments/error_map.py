"""Where full adaptation's decibels go: per-pixel error of two streams of one clip, compared.

    python experiments/error_map.py --video data/videos/vtest.avi --frame 80 \
        --a runs/sweeps/<point>/encoder-b128/stream.rdm \
        --b runs/sweeps/<point>/full-b128-t0.005/stream.rdm \
        --out experiments/results/errormap-vtest-b128.png

Decodes one I-frame of each stream (sweep points keep theirs as stream.rdm) and draws the frame,
and the squared error of a minus that of b, averaged over RGB and 8×8 blocks (blue: b is
better there). Pixels are split into the static background (within `--still` grey levels of the
clip's per-pixel median over its I-frames) and the rest (people, shadows); prints how much of
the MSE drop lies in each, and writes it beside the picture as JSON.
"""
import argparse
import json
import pathlib

import numpy as np

from rdm import data, figures, files, stream

BLOCK = 8


def squared_error(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
  """[H, W] squared error, averaged over RGB."""
  return np.mean((x.astype(np.float64) - x_hat.astype(np.float64)) ** 2, axis=-1)


def block_mean(e: np.ndarray, block: int = BLOCK) -> np.ndarray:
  h, w = (e.shape[0] // block) * block, (e.shape[1] // block) * block
  return e[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))


def still_mask(frames: np.ndarray, index: int, still: float) -> np.ndarray:
  """[H, W] True where frame `index` is within `still` grey levels (every channel) of the
  per-pixel median of all I-frames: the background the camera always sees."""
  median = np.median(frames, axis=0)
  return np.all(np.abs(frames[index].astype(np.float64) - median) <= still, axis=-1)


def split_gain(e_a: np.ndarray, e_b: np.ndarray, mask: np.ndarray) -> dict:
  """MSE of a and b, and the share of their difference that lies where mask is True."""
  drop = e_a - e_b
  return {'mse_a': float(e_a.mean()), 'mse_b': float(e_b.mean()),
          'still_fraction_of_pixels': float(mask.mean()),
          'still_share_of_mse_drop': float(drop[mask].sum() / drop.sum()),
          'mse_drop_still': float(drop[mask].mean()), 'mse_drop_moving': float(drop[~mask].mean())}


def draw(x: np.ndarray, e_a: np.ndarray, e_b: np.ndarray, mask: np.ndarray, labels, out):
  diff = block_mean(e_a - e_b)
  limit = float(np.percentile(np.abs(diff), 99)) or 1.0
  fig, axes = figures.subplots(1, 3, figsize=(18, 5.2))
  axes[0].imshow(x)
  axes[0].set_title('I-frame (original)')
  axes[1].imshow(mask, cmap='gray')
  axes[1].set_title(f'static background (white, {mask.mean():.0%} of pixels)')
  image = axes[2].imshow(diff, cmap='RdBu', vmin=-limit, vmax=limit)
  axes[2].set_title(f'MSE {labels[0]} − MSE {labels[1]} per {BLOCK}×{BLOCK} block '
                    f'(blue: {labels[1]} better)')
  fig.colorbar(image, ax=axes[2], fraction=0.035)
  for ax in axes:
    ax.set_axis_off()
  fig.tight_layout()
  fig.savefig(out, dpi=110)


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--video', required=True)
  p.add_argument('--frame', type=int, default=0, help='which I-frame (0-based)')
  p.add_argument('--a', required=True, type=pathlib.Path, help='stream a (e.g. encoder-only)')
  p.add_argument('--b', required=True, type=pathlib.Path, help='stream b (e.g. full)')
  p.add_argument('--labels', default='encoder-only,full')
  p.add_argument('--still', type=float, default=12.0, help='grey levels from the median')
  p.add_argument('--out', required=True, type=pathlib.Path)
  args = p.parse_args()
  frames = data.read_iframes(args.video)
  e_a, e_b = (squared_error(frames[args.frame], stream.decode(s.read_bytes(), [args.frame])[0])
              for s in (args.a, args.b))
  mask = still_mask(frames, args.frame, args.still)
  labels = args.labels.split(',')
  draw(frames[args.frame], e_a, e_b, mask, labels, args.out)
  summary = {'video': args.video, 'frame': args.frame, 'a': str(args.a), 'b': str(args.b),
             'labels': labels, 'still': args.still, **split_gain(e_a, e_b, mask)}
  files.write_json(args.out.with_suffix('.json'), summary)
  print(json.dumps(summary, indent=1))


if __name__ == '__main__':
  main()
