"""The main job: adapt a shipped θ_D to one video, write its .rdm, decode it in a fresh process
and report real-byte rates next to the unadapted global model and JPEG."""
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import logging

from rdm import baselines
from rdm import data
from rdm import distributed
from rdm import finetune
from rdm import stream
from rdm import zoo


def run_name(config) -> str:
  a = config.adapt
  name = f'{a.mode}-b{config.loss.beta:g}'
  if a.mode == 'full':
    name += f'-t{a.t:g}' + ('' if a.model_rate else '-noM') + ('' if a.quantize_aware else '-noQ')
  return name


def adapt_and_encode(config, frames: np.ndarray, workdir: pathlib.Path):
  """(Encoded, Adapted) for config.adapt.mode on the frames."""
  arch, base_params, _ = zoo.load_global_model(config.global_model)
  adapted = finetune.adapt(config, arch, base_params, frames, workdir)
  encoded = stream.encode_frames(config.global_model, frames, adapted.params, adapted.delta_hat,
                                 adapted.prior, config.adapt.groups, adapted.latents)
  return encoded, adapted


def summarize(frames: np.ndarray, encoded: stream.Encoded, x_hat: np.ndarray) -> dict:
  """Real-byte rates per part (bits per pixel of all I-frames) and mean PSNR."""
  pixels = int(np.prod(frames.shape[:3]))
  bpp = {f'bpp_{k}': 8.0 * v / pixels for k, v in encoded.sizes.items()}
  return {
      **bpp,
      'bpp_latent': bpp['bpp_y'] + bpp['bpp_z'],
      'bpp_model': bpp['bpp_update'],
      'bpp_total': 8.0 * len(encoded.data) / pixels,
      'psnr': baselines.mean_psnr(frames, x_hat),
      'bytes': len(encoded.data),
      'estimated_bpp_latent': (encoded.estimated_bits['y'] + encoded.estimated_bits['z']) / pixels,
      'estimated_bpp_model': encoded.estimated_bits['update'] / pixels,
  }


def decode_in_fresh_process(path: pathlib.Path) -> np.ndarray:
  """Decode with `python -m rdm.codec decompress` in a new interpreter: nothing is shared with
  the encoder but the file and the shipped θ_D."""
  with tempfile.TemporaryDirectory() as out:
    subprocess.run([sys.executable, '-m', 'rdm.codec', 'decompress', str(path), '-o', out],
                   check=True, capture_output=True)
    return np.stack([data.load_image(p) for p in sorted(pathlib.Path(out).glob('*.png'))])


def plot_rd(path: pathlib.Path, points: dict, jpeg: list, title: str) -> None:
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4.5))
  ax.plot([p['bpp'] for p in jpeg], [p['psnr'] for p in jpeg], 'o-', color='gray', label='JPEG 4:2:0')
  for label, r in points.items():
    ax.plot(r['bpp_total'], r['psnr'], 's', markersize=9, label=label)
  ax.set_xlabel('bits per pixel (real bytes)')
  ax.set_ylabel('PSNR (dB, RGB)')
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def format_table(rows: dict) -> str:
  head = f'{"":<22}{"latent":>9}{"model":>9}{"header":>9}{"total":>9}{"PSNR":>8}'
  lines = [head, f'{"":<22}{"(bpp, real bytes)":>36}{"":>9}{"dB":>8}']
  for name, r in rows.items():
    lines.append(f'{name:<22}{r["bpp_latent"]:>9.4f}{r["bpp_model"]:>9.4f}'
                 f'{r["bpp_header"]:>9.4f}{r["bpp_total"]:>9.4f}{r["psnr"]:>8.2f}')
  return '\n'.join(lines)


def run(config, workdir: str) -> dict:
  """The whole job; results.json, <video>.rdm and rd.png land in workdir."""
  t0 = time.time()
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  finetune.validate(config)
  frames = data.read_iframes(config.data.video, config.data.fps, config.data.max_frames or None)
  video = data.resolve_video(config.data.video).stem
  logging.info('%s: %d I-frames of %dx%d at %g fps', video, len(frames), frames.shape[2],
               frames.shape[1], config.data.fps)

  global_config = config.copy_and_resolve_references()
  with global_config.unlocked():
    global_config.adapt.mode = 'none'
  base, _ = adapt_and_encode(global_config, frames, workdir)
  rows = {'global (no adaptation)': summarize(frames, base, base.x_hat)}

  name = run_name(config)
  encoded, adapted = adapt_and_encode(config, frames, workdir / name)
  if not distributed.is_primary():
    return {}  # the other processes of a multi-process run only helped finetune
  rdm_path = workdir / f'{video}-{name}.rdm'
  stream.write_atomic(rdm_path, encoded.data)
  decoded = decode_in_fresh_process(rdm_path)
  if not np.array_equal(decoded, encoded.x_hat):
    raise RuntimeError(f'{rdm_path}: the fresh-process decode differs from the encoder\'s '
                       'reconstruction')
  rows[f'{config.adapt.mode} (adapted)' if config.adapt.mode != 'none' else 'none'] = summarize(
      frames, encoded, decoded)

  print(f'\n{video}: {len(frames)} I-frames {frames.shape[2]}x{frames.shape[1]}, '
        f'β={config.loss.beta:g}, model {config.global_model}, decode bit-exact in a fresh process')
  print(format_table(rows))
  jpeg = baselines.jpeg_curve(frames)
  plot_rd(workdir / f'rd-{video}-{name}.png', rows, jpeg,
          f'{video} I-frames, β={config.loss.beta:g}')
  results = {'video': video, 'frames': int(len(frames)), 'height': int(frames.shape[1]),
             'width': int(frames.shape[2]), 'config': json.loads(config.to_json()),
             'rows': rows, 'jpeg': jpeg, 'history': adapted.history,
             'rdm_file': str(rdm_path), 'wall_s': time.time() - t0}
  data.write_json(workdir / f'results-{name}.json', results)
  print(f'results: {workdir / f"results-{name}.json"}  ({time.time() - t0:.0f} s)')
  return results
