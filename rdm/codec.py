"""Command line codec.

  python -m rdm.codec compress INPUT... -o OUT.rdm [--model NAME] [--adapt full --beta 128]
                                       [--fps 2] [--frames N]
  python -m rdm.codec decompress OUT.rdm -o DIR|FRAMES.npy
  python -m rdm.codec info OUT.rdm [--original INPUT...]

INPUT: PNG/JPEG images, or one video file (or a bundled clip name: bikes, carphone) whose
I-frames are taken at --fps (the first --frames of them, if given). A bad stream, input, model
name or setting exits with status 2 and one line naming the problem (rdm.errors).
"""
import argparse
import pathlib
import sys

import numpy as np

from rdm import container
from rdm import data
from rdm import errors
from rdm import files


def read_inputs(inputs: list[str], fps: float, frames: int | None = None) -> np.ndarray:
  """Images (same size) or one video's I-frames (the first `frames`) → [T, H, W, 3] uint8."""
  if len(inputs) == 1 and pathlib.Path(inputs[0]).suffix.lower() not in data.IMAGE_SUFFIXES:
    return data.read_iframes(inputs[0], fps, frames)
  images = [data.load_image(p) for p in inputs]
  if len({im.shape for im in images}) > 1:
    raise data.InputError('images of different sizes: compress them into separate streams')
  return np.stack(images)


def read_stream(path: str) -> bytes:
  try:
    return pathlib.Path(path).read_bytes()
  except OSError as e:
    raise data.InputError(f'{path}: cannot read the stream ({e.strerror})') from e


# compress's flags, each a field of configs/xiph_beta.py (whose values are the defaults, but for
# --adapt: a codec codes with θ_D as it is unless asked to adapt it).
COMPRESS_FIELDS = {'model': ('global_model',), 'adapt': ('adapt.mode',), 'beta': ('loss.beta',),
                   'steps': ('adapt.steps', 'adapt.joint_steps'), 'fps': ('data.fps',),
                   'frames': ('data.max_frames',)}


def adapt_config(args):
  """configs/xiph_beta.py with the fields of the flags given."""
  from configs import xiph_beta
  from rdm import configuration
  return configuration.with_fields(xiph_beta.get_config(), {
      field: value for flag, fields in COMPRESS_FIELDS.items()
      if (value := getattr(args, flag)) is not None for field in fields})


def compress(args) -> None:
  import tempfile
  from rdm import pipeline
  config = adapt_config(args)
  frames = read_inputs(args.inputs, config.data.fps, config.data.max_frames or None)
  with tempfile.TemporaryDirectory() as work:
    result = pipeline.encode_video(config, frames, pathlib.Path(work))
  files.write_atomic(args.output, result.encoded.data)
  r = result.summary
  print(f'{args.output}: {len(frames)} frame(s), {r["bytes"]} bytes, {r["bpp_total"]:.4f} bpp '
        f'(estimate {r["estimated_bpp_latent"] + r["estimated_bpp_model"]:.4f}), '
        f'PSNR {r["psnr"]:.2f} dB ({r["label"]})')


def decompress(args) -> None:
  from rdm import stream
  frames = stream.decode(read_stream(args.input))
  out = pathlib.Path(args.output)
  if out.suffix == '.npy':
    np.save(out, frames)
    print(f'{len(frames)} frame(s) → {out}')
    return
  out.mkdir(parents=True, exist_ok=True)
  for i, x in enumerate(frames):
    files.save_png(out / f'frame_{i:04d}.png', x)
  print(f'{len(frames)} frame(s) → {out}')


def info(args) -> None:
  from rdm import baselines, zoo
  raw = read_stream(args.input)
  s = container.read(raw)
  pixels = sum(f.height * f.width for f in s.frames)
  try:
    model = zoo.find_by_hash(s.model_id)
  except zoo.ModelError:
    model = 'unknown to this installation'
  print(f'{args.input}: format v{container.VERSION}, {len(raw)} bytes, {len(s.frames)} frame(s), '
        f'{pixels} pixels')
  print(f'global model: {s.model_id[:16]}… ({model})')
  for part, size in s.section_sizes().items():
    print(f'  {part:<8}{size:>10} bytes {8 * size:>11} bits {8 * size / pixels:>9.4f} bpp')
  print(f'  {"total":<8}{len(raw):>10} bytes {8 * len(raw):>11} bits {8 * len(raw) / pixels:>9.4f} bpp')
  if args.original:
    from rdm import stream
    original = read_inputs(args.original, args.fps, len(s.frames))
    print(f'PSNR {baselines.mean_psnr(original, stream.decode(raw)):.2f} dB')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m rdm.codec', description=__doc__.split('\n')[0])
  sub = parser.add_subparsers(dest='command', required=True)
  c = sub.add_parser('compress')
  c.add_argument('inputs', nargs='+')
  c.add_argument('-o', '--output', required=True)
  c.add_argument('--model', help='θ_D: a shipped model name (default: the config\'s)')
  c.add_argument('--adapt', default='none', choices=('none', 'latents', 'encoder', 'full'))
  c.add_argument('--beta', type=float, help='β of the adaptation (default: the config\'s)')
  c.add_argument('--steps', type=int, help='steps of each finetuning phase')
  c.add_argument('--fps', type=float, help='I-frames per second of a video (default: 2)')
  c.add_argument('--frames', type=int, help='code the first N I-frames of a video')
  d = sub.add_parser('decompress')
  d.add_argument('input')
  d.add_argument('-o', '--output', required=True)
  i = sub.add_parser('info')
  i.add_argument('input')
  i.add_argument('--original', nargs='+')
  i.add_argument('--fps', type=float, default=2.0)
  args = parser.parse_args(argv)
  try:
    {'compress': compress, 'decompress': decompress, 'info': info}[args.command](args)
  except errors.UserError as e:
    return errors.report(e)
  return 0


if __name__ == '__main__':
  sys.exit(main())
