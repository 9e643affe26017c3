"""Pack the training photos for a device run: data/photos/{train,more,gcompris} → data/pack/train
and data/photos/eval → data/pack/eval.

    python scripts/pack_photos.py [--photos data/photos] [--out data/pack] [--short_side 512]
                                  [--train_sources train,more,gcompris]

A device run receives the working tree plus the ignored paths it is told to carry, 64 MiB (67.1
MB) in all, of which the tracked files take ~41 MB (shared/GPU-NOTES.md). Each photo is
downscaled to at most `short_side` on its short side (still above the 256² crops, so random-scale
crops keep some range) and stored as JPEG quality 92: the 197 + 5 photos of sitting 7 (train,
`more` and `gcompris`, scripts/gather_photos.py --more --gcompris; a missing folder after `train`
is skipped) take 22.4 MB at 512 (32.6 MB at 768 would not fit). A resumed sitting also carries a
14 MB bfloat16 checkpoint: pack `--train_sources train,more` (the 88 + 5 photos, ~12 MB) then.
Carry `data/pack` and point train.photos / train.eval_photos at it.
"""
import argparse
import pathlib

from PIL import Image

from rdm import data


def pack(photos: pathlib.Path, out: pathlib.Path, short_side: int,
         train_sources: tuple[str, ...]) -> int:
  total = 0
  for split, sources in {'train': train_sources, 'eval': ('eval',)}.items():
    (out / split).mkdir(parents=True, exist_ok=True)
    optional = [photos / s for s in sources[1:] if (photos / s).is_dir()]
    for folder in [photos / sources[0], *optional]:
      for path in data.list_images(folder):
        image = data.downscale_short_side(data.load_image(path), short_side)
        # more/ holds one folder per Debian package: the path keeps equal stems apart
        name = '-'.join(path.relative_to(photos).with_suffix('').parts)
        target = out / split / f'{name}.jpg'
        Image.fromarray(image).save(target, format='JPEG', quality=92, subsampling=0)
        total += target.stat().st_size
  return total


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--photos', type=pathlib.Path, default=pathlib.Path('data/photos'))
  p.add_argument('--out', type=pathlib.Path, default=pathlib.Path('data/pack'))
  p.add_argument('--short_side', type=int, default=512)
  p.add_argument('--train_sources', default='train,more,gcompris',
                 help='folders of --photos packed as training photos; the first must exist')
  args = p.parse_args()
  size = pack(args.photos, args.out, args.short_side, tuple(args.train_sources.split(',')))
  print(f'{args.out}: {size / 1e6:.1f} MB')


if __name__ == '__main__':
  main()
