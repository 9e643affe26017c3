"""One video through rdm: adapt → code every candidate → keep the lowest coded L_RDM → check.

The main job, the codec CLI, the sweeps and RQ3/RQ4 call encode_video (the model export codes
θ_D alone: stream.encode_frames and summarize); θ_D is loaded once per job and handed in.
"""
import dataclasses
import hashlib
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
from tqdm import tqdm

from rdm import baselines
from rdm import container
from rdm import data
from rdm import files
from rdm import finetune
from rdm import losses
from rdm import metrics
from rdm import prune
from rdm import stream
from rdm import zoo
from rdm.candidate import Candidate


SUMMARY_FIELDS = 2  # the fields summarize() returns, as of 2026-12-06 ('loss' became L_rdm_coded)


def summarize(frames: np.ndarray, encoded: stream.Encoded, beta: float) -> dict:
  """Real-byte rates per part (bits per pixel of all I-frames), mean PSNR and the coded
  L_RDM = MSE + β·bpp that candidates are ranked by (MSE over all pixels of all frames)."""
  pixels = int(np.prod(frames.shape[:3]))
  bpp = {f'bpp_{k}': 8.0 * v / pixels for k, v in encoded.sizes.items()}
  bpp_total = 8.0 * len(encoded.data) / pixels
  mse = metrics.rgb_mse(frames, encoded.x_hat)
  return {
      **bpp,
      'bpp_latent': bpp['bpp_y'] + bpp['bpp_z'],
      'bpp_model': bpp['bpp_update'],
      'bpp_total': bpp_total,
      'psnr': baselines.mean_psnr(frames, encoded.x_hat),
      'mse': mse,
      'L_rdm_coded': losses.rd_objective(mse, bpp_total, beta),
      'bytes': len(encoded.data),
      'estimated_bpp_latent': (encoded.estimated_bits['y'] + encoded.estimated_bits['z']) / pixels,
      'estimated_bpp_model': encoded.estimated_bits['update'] / pixels,
  }


@dataclasses.dataclass
class VideoResult:
  encoded: stream.Encoded  # the stream written: the candidate of lowest coded L_RDM
  summary: dict  # summarize() of it, with its candidate's label
  candidates: list  # summarize() of every candidate coded, with its label, in training order
  history: list  # finetuning metric lines


def candidate_key(theta_d: zoo.GlobalModel, frames_digest: str, candidate: Candidate,
                  beta: float) -> str:
  """What a candidate's stream is made of (format, θ_D, I-frames, θ to code with, δ̂, β) and the
  fields its summary has."""
  h = hashlib.sha256()
  for part in (f'v{container.VERSION} {SUMMARY_FIELDS} {theta_d.sha256} {frames_digest} {beta!r}',
               zoo.params_hash(candidate.params)):
    h.update(part.encode())
  h.update(candidate.update.to_bytes() if candidate.update else b'')
  return h.hexdigest()[:32]


def encode_video(config, frames: np.ndarray, workdir: pathlib.Path,
                 theta_d: zoo.GlobalModel | None = None,
                 encoder_workdir: pathlib.Path | None = None) -> VideoResult:
  """Adapt config.global_model to the frames as config.adapt says and code them. With
  adapt.select, every candidate of finetuning is coded and the one of lowest coded L_RDM is
  kept (with adapt.prune_leaves, also the best one without the leaves of δ̂ that do not pay for
  themselves); otherwise the last. Each candidate's summary is kept under
  <encoder_workdir's parent or workdir>/coded, so a full run after the encoder-only run of the
  same settings does not code the encoder phase's candidates again (only the written one, if
  it is one of them)."""
  theta_d = theta_d or zoo.load_global_model(config.global_model)
  adapted = finetune.adapt(config, theta_d.arch, theta_d.params, frames, workdir,
                           encoder_workdir)
  beta = config.loss.beta
  cache = (encoder_workdir.parent if encoder_workdir else workdir) / 'coded'
  digest = data.frames_digest(frames)
  coded = []  # (candidate, encoded or None when its summary was kept, summary), in coding order

  def encode(candidate: Candidate) -> stream.Encoded:
    return stream.encode_frames(theta_d, frames, candidate.params, candidate.update,
                                adapted.latents)

  def code(candidate: Candidate) -> None:
    path = cache / f'{candidate_key(theta_d, digest, candidate, beta)}.json'
    if adapted.latents is None and path.exists():
      coded.append((candidate, None, {**candidate.fields(), **json.loads(path.read_text())}))
      return
    encoded = encode(candidate)
    summary = summarize(frames, encoded, beta)
    if adapted.latents is None:
      cache.mkdir(parents=True, exist_ok=True)
      files.write_atomic(path, json.dumps(summary).encode())
    coded.append((candidate, encoded, {**candidate.fields(), **summary}))

  chosen = adapted.candidates if config.adapt.select else adapted.candidates[-1:]
  for candidate in tqdm(chosen, desc='code candidates', unit='candidate', dynamic_ncols=True):
    code(candidate)
  best = min(range(len(coded)), key=lambda i: coded[i][2]['L_rdm_coded'])
  if config.adapt.select and config.adapt.prune_leaves and chosen[best].update is not None:
    pruned = prune.without_unpaid_leaves(theta_d.arch, theta_d.params, chosen[best], frames, beta)
    if pruned is not None:
      code(pruned)
  candidate, encoded, summary = min(coded, key=lambda c: c[2]['L_rdm_coded'])
  return VideoResult(encoded or encode(candidate), summary, [s for _, _, s in coded],
                     adapted.history)


def encode_and_check(config, frames: np.ndarray, workdir: pathlib.Path,
                     theta_d: zoo.GlobalModel, encoder_workdir: pathlib.Path | None = None) -> dict:
  """encode_video, then decode the stream and compare: the record of one sweep point. The
  stream is kept as workdir/stream.rdm (for looking at its frames: experiments/error_map.py)."""
  start = time.time()
  result = encode_video(config, frames, workdir, theta_d, encoder_workdir)
  seconds = time.time() - start
  if not np.array_equal(stream.decode(result.encoded.data), result.encoded.x_hat):
    raise RuntimeError('decoded frames differ from the encoder\'s reconstruction')
  workdir.mkdir(parents=True, exist_ok=True)
  files.write_atomic(workdir / 'stream.rdm', result.encoded.data)
  return {**result.summary, 'seconds': seconds, 'candidates': result.candidates,
          'history': result.history[-1:]}


def decode_in_fresh_process(path: pathlib.Path) -> np.ndarray:
  """Decode with `python -m rdm.codec decompress` in a new interpreter (nothing shared with the
  encoder but the file and the shipped θ_D); the frames come back as one .npy array."""
  with tempfile.TemporaryDirectory() as out:
    target = pathlib.Path(out) / 'frames.npy'
    result = subprocess.run([sys.executable, '-m', 'rdm.codec', 'decompress', str(path), '-o',
                             str(target)], capture_output=True, text=True)
    if result.returncode:
      raise RuntimeError(f'decoding {path} in a fresh process failed: {result.stderr[-2000:]}')
    return np.load(target)
