"""The main job: adapt a shipped θ_D to one video, write its .rdm, decode it in a fresh process
and report real-byte rates next to the unadapted global model, encoder-only adaptation, the
other shipped models, JPEG and HEVC intra."""
import json
import pathlib
import time

import numpy as np
from absl import logging

from rdm import baselines
from rdm import data
from rdm import distributed
from rdm import files
from rdm import finetune
from rdm import job_report
from rdm import pipeline
from rdm import stream
from rdm import zoo

HEVC_CRFS = (22, 27, 32, 37, 42)
GLOBAL_ROW = 'global (no adaptation)'


def run_name(config) -> str:
  a = config.adapt
  name = f'{a.mode}-b{config.loss.beta:g}'
  if a.mode == 'full':
    name += f'-t{a.t:g}' + ('' if a.model_rate else '-noM') + ('' if a.quantize_aware else '-noQ')
  return name


def best_of(candidates: list, phase: str, step: int | None = None) -> dict | None:
  """The lowest-L_RDM candidate of a phase (at one step, when given)."""
  chosen = [c for c in candidates if c['phase'] == phase and step in (None, c['step'])]
  return min(chosen, key=lambda c: c['L_rdm_coded']) if chosen else None


def shipped_curves(frames: np.ndarray, theta_d: zoo.GlobalModel, own: dict, beta: float) -> dict:
  """RD of every shipped model of θ_D's architecture on these frames, unadapted (L_RDM at the
  job's β); θ_D's own point is `own` (its stream is already coded)."""
  points = []
  for name in zoo.available():
    if zoo.architecture(name) == theta_d.arch:
      summary = own if name == theta_d.name else pipeline.summarize(
          frames, stream.encode_frames(zoo.load_global_model(name), frames), beta)
      points.append({**summary, 'bpp': summary['bpp_total'], 'model': name})
  return {f'rdm shipped models (N={theta_d.arch.N}, no adaptation)': points}


def anchor_curves(frames: np.ndarray) -> dict:
  return {'JPEG 4:2:0': baselines.jpeg_curve(frames),
          'HEVC intra (x265)': [baselines.ffmpeg_point(frames, 'hevc-intra', q)
                                for q in HEVC_CRFS]}


def run(config, workdir: str) -> dict:
  """The whole job; results-*.json, <video>-*.rdm and rd-*.png land in workdir."""
  t0 = time.time()
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  finetune.validate(config)
  frames = data.read_iframes(config.data.video, config.data.fps, config.data.max_frames or None)
  video = data.resolve_video(config.data.video).stem
  logging.info('%s: %d I-frames of %dx%d at %g fps', video, len(frames), frames.shape[2],
               frames.shape[1], config.data.fps)
  theta_d = zoo.load_global_model(config.global_model)
  name = run_name(config)
  result = pipeline.encode_video(config, frames, workdir / name, theta_d)
  if not distributed.is_primary():
    return {}  # the other processes of a multi-process run only helped finetune
  rdm_path = workdir / f'{video}-{name}.rdm'
  files.write_atomic(rdm_path, result.encoded.data)
  if not np.array_equal(pipeline.decode_in_fresh_process(rdm_path), result.encoded.x_hat):
    raise RuntimeError(f'{rdm_path}: the fresh-process decode differs from the encoder\'s '
                       'reconstruction')

  rows = {GLOBAL_ROW: best_of(result.candidates, 'encoder', 0)}
  if rows[GLOBAL_ROW] is None:
    rows[GLOBAL_ROW] = pipeline.summarize(
        frames, stream.encode_frames(theta_d, frames), config.loss.beta)
  if config.adapt.mode == 'full':
    rows['encoder-only (best)'] = best_of(result.candidates, 'encoder')
  rows[f'{config.adapt.mode} ({result.summary["label"]})'] = result.summary

  print(f'\n{video}: {len(frames)} I-frames {frames.shape[2]}x{frames.shape[1]}, '
        f'β={config.loss.beta:g}, model {theta_d.name}; written: {result.summary["label"]} '
        f'(lowest coded L_RDM of {len(result.candidates)} candidates), decoded bit-exactly in a '
        'fresh process')
  print(job_report.format_table(rows))
  curves = {**anchor_curves(frames),
            **shipped_curves(frames, theta_d, rows[GLOBAL_ROW], config.loss.beta)}
  plot_path = workdir / f'rd-{video}-{name}.png'
  job_report.plot_rd(plot_path, rows, curves, f'{video} I-frames, β={config.loss.beta:g}',
                     GLOBAL_ROW)
  results = {'video': video, 'frames': int(len(frames)), 'height': int(frames.shape[1]),
             'width': int(frames.shape[2]), 'config': json.loads(config.to_json()),
             'rows': rows, 'candidates': result.candidates, 'curves': curves,
             'history': result.history, 'rdm_file': str(rdm_path), 'wall_s': time.time() - t0}
  results_path = workdir / f'results-{name}.json'
  files.write_json(results_path, results)
  print(f'wrote {rdm_path}\n      {plot_path}\n      {results_path}  ({time.time() - t0:.0f} s)')
  return results
