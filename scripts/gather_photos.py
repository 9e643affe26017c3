"""Gather real natural photographs from Debian packages into data/photos/{train,eval,more}.

    python scripts/gather_photos.py [--out data/photos] [--more] [--gcompris]

Downloads the .deb files with `apt-get download` (no install; run `apt-get update` once before),
unpacks them with `dpkg -x`, and copies the photographs listed below. The lists were made by
looking at every image of these packages: drawn art, renders, gradients and patterns are left
out (they teach a codec flat colours, not camera statistics). The eval split is fixed.
--more adds data/photos/more: 56 further photographs (short side ≥ 600 px) from the packages that
../shared/DATA.md scouted, for training only (train.photos=data/photos/train,data/photos/more).
--gcompris adds data/photos/gcompris: the 109 photographs with a short side ≥ 600 px inside
gcompris-qt-data's Qt resource bundles (animals, monuments, music, the sea), for training only.
"""
import argparse
import hashlib
import io
import pathlib
import shutil
import struct
import subprocess
import tempfile

from PIL import Image

from rdm import data

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

_CV = 'usr/share/doc/opencv-doc/examples/'
_LXQT = 'usr/share/lxqt/wallpapers/'
_TUXPAINT = 'usr/share/tuxpaint/templates/'
# Each looked at (DATA.md); smaller ones left out so that a 256² crop can still be seen at half
# scale or less, which hides the artefacts of their lossy sources.
MORE_PACKAGES = ('opencv-doc', 'lxqt-themes', 'tuxpaint-data', 'tuxtype-data', 'palapeli-data',
                 'libjxl-testdata', 'digikam-data')
MORE = (
    *(_CV + 'data/' + n for n in ('building.jpg', 'ela_original.jpg', 'aloeL.jpg', 'aloeR.jpg',
                                  'graf1.png', 'graf3.png')),
    *(_CV + f'text/scenetext0{i}.jpg' for i in range(1, 6)),
    *(_LXQT + n for n in ('Butterfly-Kenneth-Wimer.jpg', 'Valendas.png', 'after-the-rain.jpg',
                          'appleflower.png', 'beam.png', 'butterfly.png', 'cloud.png', 'drop.png',
                          'flowers.png', 'fog.jpg', 'this-is-not-windows.jpg')),
    *(_TUXPAINT + n + '.jpg' for n in (
        'burnt_bark', 'cliff', 'corn_maze', 'jellyfish', 'lighthouse', 'mossy_log', 'mudstone',
        'ocean_splash', 'ocean_waves', 'redwoods_above', 'rocks', 'sheep', 'spiders_web',
        'sun_behind_clouds', 'sun_behind_leaves')),
    *(f'usr/share/tuxtype/images/kcas{i}.jpg' for i in range(12)),
    *(f'usr/share/palapeli/collection/{n}.jpg' for n in (
        'castle-maintenon', 'cincinnati-bridge', 'citrus-fruits', 'european-honey-bee',
        'panther-chameleon-female')),
    'usr/share/libjxl-testdata/jxl/flower/flower.png',
    'usr/share/digikam/about/images/body-background.jpg',
)


# The bundles are Qt resource files holding their WebP images uncompressed; every image in them
# with a short side of at least 600 px is a photograph (each looked at; the smaller ones include
# icons and drawings). Lossy sources: they are halved, which hides WebP's artefacts.
GCOMPRIS_BUNDLES = ('erase', 'explore_monuments', 'explore_farm_animals', 'explore_world_animals',
                    'explore_world_music', 'clickgame')
GCOMPRIS_MIN_SIDE = 600
GCOMPRIS_PHOTOS = 109


def webp_chunks(bundle: bytes):
  """Each complete RIFF/WEBP file stored in a byte string."""
  i = bundle.find(b'RIFF')
  while i >= 0:
    (length,) = struct.unpack('<I', bundle[i + 4:i + 8])
    if bundle[i + 8:i + 12] == b'WEBP' and i + 8 + length <= len(bundle):
      yield bundle[i:i + 8 + length]
    i = bundle.find(b'RIFF', i + 4)


def gather_gcompris(out: pathlib.Path) -> None:
  target = out / 'gcompris'
  target.mkdir(parents=True, exist_ok=True)
  seen = set()
  with tempfile.TemporaryDirectory() as tmp:
    root = extract(('gcompris-qt-data',), pathlib.Path(tmp)) / 'usr/share/gcompris-qt/rcc'
    for name in GCOMPRIS_BUNDLES:
      for k, chunk in enumerate(webp_chunks((root / f'{name}.rcc').read_bytes())):
        digest = hashlib.sha256(chunk).hexdigest()
        with Image.open(io.BytesIO(chunk)) as image:  # the header alone gives the size
          if min(image.size) < GCOMPRIS_MIN_SIDE or digest in seen:
            continue
          image.load()
          rgb = data.to_rgb_uint8(image, f'{name}.rcc')
        seen.add(digest)
        half = data.downscale_short_side(rgb, min(rgb.shape[:2]) // 2)
        Image.fromarray(half).save(target / f'{name}-{k:03d}.png')
  if len(seen) != GCOMPRIS_PHOTOS:
    raise RuntimeError(f'gcompris-qt-data gave {len(seen)} photographs, not {GCOMPRIS_PHOTOS}: '
                       'a different package version; look at them before training on them')
  print(f'{len(seen)} gcompris training photos in {target}')


def flat_name(relative: str) -> str:
  parts = relative.split('/')
  return parts[3] + '.jpg' if relative.startswith(_PLASMA) else parts[-1]


def extract(packages, tmp: pathlib.Path) -> pathlib.Path:
  """The packages' files under tmp/root (downloaded, not installed)."""
  subprocess.run(['apt-get', 'download', *packages], cwd=tmp, check=True)
  for deb in tmp.glob('*.deb'):
    subprocess.run(['dpkg', '-x', str(deb), str(tmp / 'root')], check=True)
  return tmp / 'root'


def copy(root: pathlib.Path, relative: str, target: pathlib.Path, packages) -> None:
  source = root / relative
  if not source.is_file():
    raise FileNotFoundError(f'{relative} is missing from the packages {packages}')
  target.parent.mkdir(parents=True, exist_ok=True)
  shutil.copyfile(source, target)


def gather(out: pathlib.Path) -> None:
  with tempfile.TemporaryDirectory() as tmp:
    root = extract(PACKAGES, pathlib.Path(tmp))
    for relative in PHOTOS:
      split = 'eval' if relative in EVAL else 'train'
      copy(root, relative, out / split / flat_name(relative), PACKAGES)
  print(f'{len(PHOTOS) - len(EVAL)} train and {len(EVAL)} eval photos in {out}')


def gather_more(out: pathlib.Path) -> None:
  with tempfile.TemporaryDirectory() as tmp:
    root = extract(MORE_PACKAGES, pathlib.Path(tmp))
    for relative in MORE:
      parts = relative.split('/')  # one folder per source: usr/share/<it> or usr/share/doc/<it>
      source = parts[3] if parts[2] == 'doc' else parts[2]
      copy(root, relative, out / 'more' / source / parts[-1], MORE_PACKAGES)
  print(f'{len(MORE)} more training photos in {out / "more"}')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', type=pathlib.Path, default=pathlib.Path('data/photos'))
  parser.add_argument('--more', action='store_true', help='also the photos of MORE_PACKAGES')
  parser.add_argument('--gcompris', action='store_true', help="also gcompris-qt-data's photos")
  args = parser.parse_args()
  gather(args.out)
  if args.more:
    gather_more(args.out)
  if args.gcompris:
    gather_gcompris(args.out)


if __name__ == '__main__':
  main()
