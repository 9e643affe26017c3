"""Resumable sweeps of the adaptation job: one JSON line per finished point.

    python experiments/sweep.py --out experiments/results/rq1-bikes.jsonl --video bikes \
        --modes none,encoder,full --betas 0.5,8,128,512,4096 [--config.adapt.steps=300 ...]

Each point is (video, mode, β, overrides): --config (default configs/rq.py, the research
questions' recipe) and its --config.a.b=v overrides, the same for every point. Points already in
--out are skipped, so an interrupted sweep continues where it stopped. The global model for β is
the shipped msh-n<N>-beta<β> (the narrowest), else --model. Every rate is from real bytes (the
update included), and every stream is decoded and compared with the encoder's reconstruction.
Finetuning checkpoints live under --workdirs: an encoder-only point and a full point of the same
settings share the encoder phase, so whichever runs second starts from the other's checkpoints.
"""
import hashlib
import json
import pathlib
import time

from absl import app
from absl import flags

from rdm import checkpoint, configuration, data, job, pipeline, zoo

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line (defined only when run, so tests may import this module)."""
  configuration.define_config_flag('rq.py')
  flags.DEFINE_string('out', None, 'the .jsonl of finished points', required=True)
  flags.DEFINE_string('video', 'bikes', 'a video file or a bundled clip name')
  flags.DEFINE_list('modes', 'none,encoder,full', 'adapt.mode of the points')
  flags.DEFINE_list('betas', '0.5,8,128,512,4096', 'loss.beta of the points')
  flags.DEFINE_string('model', 'msh-n64-beta128',
                      'θ_D where no ladder model is shipped for β')
  flags.DEFINE_string('tag', '', 'label stored with each point (e.g. noM)')
  flags.DEFINE_string('workdirs', 'runs/sweeps', 'finetuning checkpoints of the points')


def done_keys(path: pathlib.Path) -> set:
  if not path.exists():
    return set()
  return {json.loads(l)['key'] for l in path.read_text().splitlines() if l.strip()}


def digest(overrides: dict) -> str:
  return hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:10]


def joint_only(key: str) -> bool:
  """Whether an override changes the joint phase alone (the encoder phase never reads it)."""
  section, _, field = key.partition('.')
  return section == 'adapt' and field in checkpoint.JOINT_FIELDS + ('joint_steps',)


def point_dir(root: pathlib.Path, video: str, model: str, beta: float, overrides: dict):
  """Workdir of a point's encoder phase: the same for every mode, and for every setting of the
  joint phase alone (an ablation of M reuses the default's encoder phase)."""
  encoder_overrides = {k: v for k, v in overrides.items() if not joint_only(k)}
  # Two clips of one file name would share it: the fingerprint of their frames refuses to mix them.
  return (root / f'{data.clip_name(video)}-{zoo.model_key(model)}-b{beta:g}-'
          f'{digest(encoder_overrides)}')


def run_point(config, frames, root: pathlib.Path, theta_d, overrides: dict) -> dict:
  """One point in its own workdir (named by mode and joint-phase overrides), its encoder phase
  in root/encoder (shared)."""
  joint = {k: v for k, v in overrides.items() if joint_only(k)}
  name = job.run_name(config) + (f'-{digest(joint)}' if joint and config.adapt.mode == 'full'
                                 else '')
  return pipeline.encode_and_check(config, frames, root / name, theta_d,
                                   encoder_workdir=root / 'encoder')


def main(argv):
  del argv
  out, workdirs = pathlib.Path(FLAGS.out), pathlib.Path(FLAGS.workdirs)
  overrides = configuration.overrides()
  out.parent.mkdir(parents=True, exist_ok=True)
  finished = done_keys(out)
  frames = None
  for beta in (float(b) for b in FLAGS.betas):
    model = zoo.ladder_model(beta, FLAGS.model)
    theta_d = None
    for mode in FLAGS.modes:
      config = configuration.adaptation(FLAGS.config, FLAGS.video, mode, beta, model)
      key = (f'{FLAGS.video}|{zoo.model_key(model)}|{job.run_name(config)}|'
             f'{json.dumps(overrides, sort_keys=True)}')
      if key in finished:
        print(f'skip {key}')
        continue
      if frames is None:
        frames = data.read_iframes(FLAGS.video, config.data.fps, config.data.max_frames or None)
      theta_d = theta_d or zoo.load_global_model(model)
      result = run_point(config, frames,
                         point_dir(workdirs, FLAGS.video, model, beta, overrides), theta_d,
                         overrides)
      record = {'key': key, 'video': FLAGS.video, 'mode': mode, 'beta': beta, 'model': model,
                'tag': FLAGS.tag, 'overrides': overrides, 'date': time.strftime('%Y-%m-%d'),
                **result}
      with out.open('a') as f:
        f.write(json.dumps(record) + '\n')
      print(f'{key}: {result["bpp_total"]:.4f} bpp (model {result["bpp_model"]:.4f}), '
            f'{result["psnr"]:.2f} dB, L {result["L_rdm_coded"]:.2f} ({result["label"]}), '
            f'{result["seconds"]:.0f} s', flush=True)


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=configuration.parse_flags)
