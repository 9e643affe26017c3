"""Gather real natural photographs from Debian wallpaper packages into data/photos/{train,eval}.

    python scripts/gather_photos.py [--out data/photos]

Downloads the .deb files with `apt-get download` (no install; run `apt-get update` once before),
unpacks them with `dpkg -x`, and copies the photographs listed below. The lists were made by
looking at every image of these packages: drawn art, renders, gradients and patterns are left
out (they teach a codec flat colours, not camera statistics). The eval split is fixed.
"""
import argparse
import pathlib
import shutil
import subprocess
import tempfile

PACKAGES = ('lomiri-wallpapers', 'lomiri-wallpapers-16.04', 'lomiri-wallpapers-20.04',
            'mate-backgrounds', 'plasma-workspace-wallpapers', 'ukui-wallpapers')

_BG = 'usr/share/backgrounds/'
_MATE = _BG + 'mate/nature/'
_PLASMA = 'usr/share/wallpapers/'
PHOTOS = (
    _BG + 'Bridge_by_Sander_Klootwijk.jpg', _BG + 'Dragonfly_by_Bolly.jpg',
    _BG + 'Kleiber_by_Lukas_Baubkus.jpg', _BG + 'Picture_0B_by_freespace.jpg',
    _BG + 'Picture_1A_by_freespace.jpg', _BG + 'Wine_by_Jakkub_Mede.jpg',
    _BG + 'aitzgorri_by_Aitzol_Berasategi.jpg', _BG + 'analogpattern_by_Peter_Nerlich.jpg',
    _BG + 'free_by_Peter_Nerlich.jpg', _BG + 'friends_by_Aitzol_Berasategi.jpg',
    _BG + 'greentock_by_Peter_Nerlich.jpg', _BG + 'life_by_Aitzol_Berasategi.jpg',
    _BG + 'picosdeeuropa_by_Aitzol_Berasategi.jpg', _BG + 'seeding_by_Clements_Engelhardt.jpg',
    _BG + 'sunset_by_Aitzol_Berasategi.jpg',
    _MATE + 'Aqua.jpg', _MATE + 'Blinds.jpg', _MATE + 'Dune.jpg', _MATE + 'FreshFlower.jpg',
    _MATE + 'Garden.jpg', _MATE + 'GreenMeadow.jpg', _MATE + 'LadyBird.jpg',
    _MATE + 'RainDrops.jpg', _MATE + 'Storm.jpg', _MATE + 'TwoWings.jpg', _MATE + 'Wood.jpg',
    _MATE + 'YellowFlower.jpg',
    _PLASMA + 'BytheWater/contents/images/1280x1024.jpg',
    _PLASMA + 'ColdRipple/contents/images/1280x1024.jpg',
    _PLASMA + 'DarkestHour/contents/images/1280x1024.jpg',
    _PLASMA + 'EveningGlow/contents/images/1280x1024.jpg',
    _PLASMA + 'FallenLeaf/contents/images/1280x1024.jpg',
    _PLASMA + 'Grey/contents/images/1280x1024.jpg',
    _PLASMA + 'Kite/contents/images/1280x1024.jpg',
    _PLASMA + 'OneStandsOut/contents/images/1280x1024.jpg',
    _PLASMA + 'Path/contents/images/1280x1024.jpg',
    _PLASMA + 'summer_1am/contents/images/1280x1024.jpg',
)
# Held out from training: RD on these is the global models' photo benchmark.
EVAL = frozenset({_BG + 'Wine_by_Jakkub_Mede.jpg', _MATE + 'LadyBird.jpg',
                  _BG + 'picosdeeuropa_by_Aitzol_Berasategi.jpg',
                  _PLASMA + 'EveningGlow/contents/images/1280x1024.jpg',
                  _MATE + 'Storm.jpg'})


def flat_name(relative: str) -> str:
  parts = relative.split('/')
  return parts[3] + '.jpg' if relative.startswith(_PLASMA) else parts[-1]


def gather(out: pathlib.Path) -> None:
  with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    subprocess.run(['apt-get', 'download', *PACKAGES], cwd=tmp, check=True)
    for deb in tmp.glob('*.deb'):
      subprocess.run(['dpkg', '-x', str(deb), str(tmp / 'root')], check=True)
    for split in ('train', 'eval'):
      (out / split).mkdir(parents=True, exist_ok=True)
    for relative in PHOTOS:
      source = tmp / 'root' / relative
      if not source.is_file():
        raise FileNotFoundError(f'{relative} is missing from the packages {PACKAGES}')
      split = 'eval' if relative in EVAL else 'train'
      shutil.copyfile(source, out / split / flat_name(relative))
  print(f'{len(PHOTOS) - len(EVAL)} train and {len(EVAL)} eval photos in {out}')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', type=pathlib.Path, default=pathlib.Path('data/photos'))
  gather(parser.parse_args().out)


if __name__ == '__main__':
  main()
