"""Finetuning speed and peak memory of one adaptation mode (run once per mode, in its own
process, so the peak resident memory is that mode's alone).

    python benchmarks/finetune_speed.py --mode full --steps 40 --out full.json
    RDM_MODELS=... python benchmarks/finetune_speed.py --mode full --steps 10 --size 1280x720 \
        --config.global_model=<an imported CompressAI model> --config.data.max_frames=1 \
        --config.adapt.batch_size=1 --out zoo-720p.json

By default bikes I-frames, msh-n64-beta128, the main job's settings (whole frames, 1 a step; full
mode: the joint phase; latents mode optimises whole frames, 3 of them); any config field by
--config.a.b=v, and --size resizes the frames. Steps per second from the metric
lines after the first (compiling) one; pixels per second = steps/s × pixels per step; peak RSS
from getrusage.
"""
import json
import pathlib
import resource
import tempfile

from absl import app
from absl import flags
import numpy as np
from PIL import Image

from rdm import configuration, data, finetune, zoo

FLAGS = flags.FLAGS


def steps_per_second(history: list, per_frame: bool) -> float:
  """Throughput between the first and last metric line (the first absorbs compilation)."""
  first, last = history[0], history[-1]
  # latents: one line per frame, each of `step` steps
  steps = last['step'] * (len(history) - 1) if per_frame else last['step'] - first['step']
  return steps / (last['time_s'] - first['time_s'])


def define_flags() -> None:
  configuration.define_config_flag('xiph_beta.py')
  flags.DEFINE_enum('mode', None, ('full', 'encoder', 'latents'), 'adaptation mode', required=True)
  flags.DEFINE_integer('steps', 40, 'finetuning steps measured')
  flags.DEFINE_string('size', '', 'WxH: resize the I-frames (e.g. 1280x720); empty: as they are')
  flags.DEFINE_string('out', None, 'the result .json', required=True)


def resized(frames: np.ndarray, size: str) -> np.ndarray:
  if not size:
    return frames
  w, h = (int(v) for v in size.split('x'))
  return np.stack([np.asarray(Image.fromarray(x).resize((w, h), Image.LANCZOS)) for x in frames])


def main(argv):
  del argv
  config = FLAGS.config
  frames = data.read_iframes(config.data.video, config.data.fps, config.data.max_frames or None)
  frames = resized(frames[:3] if FLAGS.mode == 'latents' else frames, FLAGS.size)
  # latents: steps per frame = steps·batch/frames, so this gives `--steps` steps per frame.
  config = configuration.with_fields(config, {
      'adapt.mode': FLAGS.mode, 'adapt.joint_steps': FLAGS.steps, 'adapt.log_every': 5,
      'adapt.steps': FLAGS.steps * (len(frames) if FLAGS.mode == 'latents' else 1)})
  theta_d = zoo.load_global_model(config.global_model)
  arch, params = theta_d.arch, theta_d.params
  with tempfile.TemporaryDirectory() as workdir:
    adapted = finetune.adapt(config, arch, params, frames, pathlib.Path(workdir))
  phase = {'latents': 'latents', 'encoder': 'encoder', 'full': 'joint'}[FLAGS.mode]
  history = [h for h in adapted.history if h['phase'] == phase]
  rate = steps_per_second(history, per_frame=FLAGS.mode == 'latents')
  if FLAGS.mode == 'latents':
    pixels = frames.shape[1] * frames.shape[2]
  elif config.adapt.crop:
    pixels = config.adapt.batch_size * min(config.adapt.crop, *frames.shape[1:3]) ** 2
  else:
    pixels = config.adapt.batch_size * frames.shape[1] * frames.shape[2]
  result = {'mode': FLAGS.mode, 'steps_per_s': rate, 'pixels_per_step': pixels,
            'mpix_per_s': rate * pixels / 1e6,
            'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
  print(json.dumps(result))
  pathlib.Path(FLAGS.out).write_text(json.dumps(result) + '\n')


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=configuration.parse_flags)
