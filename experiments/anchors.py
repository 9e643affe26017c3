"""Classical anchors on the I-frames rdm codes: JPEG (Pillow 4:2:0), WebP, JPEG XL, AVIF, HEVC
and VVC intra through the ffmpeg of imageio-ffmpeg. Bits from the encoded files, PSNR on 8-bit
RGB, one JSON line per (codec, quality); points already in --out are skipped.

    python experiments/anchors.py --video bikes [--codecs jpeg,webp,...]
    → experiments/results/anchors-bikes.jsonl (experiments/report.py draws them beside rdm)
"""
import argparse
import json
import pathlib
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

from rdm import baselines, data

JPEG_QUALITIES = (1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)


def points(frames, codec: str):
  """(quality, function computing the point) for every quality of a codec."""
  if codec == 'jpeg':
    return [(q, lambda q=q: baselines.jpeg_point(frames, q)) for q in JPEG_QUALITIES]
  return [(q, lambda q=q: baselines.ffmpeg_point(frames, codec, q))
          for q in baselines.FFMPEG_CODECS[codec][2]]


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--video', default='bikes')
  p.add_argument('--codecs', default=','.join(['jpeg', *baselines.FFMPEG_CODECS]))
  p.add_argument('--out', type=pathlib.Path)
  p.add_argument('--max_frames', type=int, default=0, help='the first n I-frames (0: all)')
  args = p.parse_args()
  out = args.out or ROOT / 'experiments' / 'results' / f'anchors-{data.clip_name(args.video)}.jsonl'
  done = {(r['codec'], r['quality']) for r in map(json.loads, out.read_text().splitlines())
          } if out.exists() else set()
  frames = data.read_iframes(args.video, max_frames=args.max_frames or None)
  for codec in args.codecs.split(','):
    for q, point in points(frames, codec):
      if (codec, q) in done:
        continue
      start = time.time()
      r = {'video': args.video, **point(), 'date': time.strftime('%Y-%m-%d'),
           'seconds': time.time() - start}
      with out.open('a') as f:
        f.write(json.dumps(r) + '\n')
      print(f'{args.video} {codec} q={q}: {r["bpp"]:.4f} bpp {r["psnr"]:.2f} dB', flush=True)


if __name__ == '__main__':
  main()
