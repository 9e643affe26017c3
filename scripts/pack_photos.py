"""Pack the training photos for a device run: data/photos/{train,more} → data/pack/train and
data/photos/eval → data/pack/eval.

    python scripts/pack_photos.py [--photos data/photos] [--out data/pack] [--short_side 768]

A device run receives the working tree plus the ignored paths it is told to carry, 64 MiB in
all, of which the tracked files take ~39 MB (shared/GPU-NOTES.md). The originals are ~62 MB;
here each photo is downscaled to at most `short_side` on its short side (still well above the
256² crops, so random-scale crops keep their range) and stored as JPEG quality 92: ~21 MB for
the 88 + 5 photos θ_D v4 saw (`more`, scripts/gather_photos.py --more, is packed when present).
That leaves no room to carry a 14 MB bfloat16 checkpoint to resume from: pack with
--short_side 512 then (~12 MB).
Carry `data/pack` and point train.photos / train.eval_photos at it.
"""
import argparse
import pathlib

from PIL import Image

from rdm import data


SPLITS = {'train': ('train', 'more'), 'eval': ('eval',)}


def pack(photos: pathlib.Path, out: pathlib.Path, short_side: int) -> int:
  total = 0
  for split, sources in SPLITS.items():
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
  p.add_argument('--short_side', type=int, default=768)
  args = p.parse_args()
  size = pack(args.photos, args.out, args.short_side)
  print(f'{args.out}: {size / 1e6:.1f} MB')


if __name__ == '__main__':
  main()
