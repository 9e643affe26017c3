"""Finetuning speed and peak memory of one adaptation mode (run once per mode, in its own
process, so the peak resident memory is that mode's alone).

    python benchmarks/finetune_speed.py --mode full --steps 40 --out full.json

bikes I-frames, msh-n64-beta128, the main job's settings (whole frames, batch 2; full mode: the
joint phase; latents mode optimises whole frames, 3 of them). Steps per second from the metric
lines after the first (compiling) one; pixels per second = steps/s × pixels per step; peak RSS
from getrusage.
"""
import argparse
import json
import pathlib
import resource
import tempfile


from configs import base
from rdm import data, finetune, zoo


def steps_per_second(history: list, per_frame: bool) -> float:
  """Throughput between the first and last metric line (the first absorbs compilation)."""
  first, last = history[0], history[-1]
  # latents: one line per frame, each of `step` steps
  steps = last['step'] * (len(history) - 1) if per_frame else last['step'] - first['step']
  return steps / (last['time_s'] - first['time_s'])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--mode', required=True, choices=('full', 'encoder', 'latents'))
  parser.add_argument('--steps', type=int, default=40)
  parser.add_argument('--video', default='bikes')
  parser.add_argument('--out', required=True, type=pathlib.Path)
  args = parser.parse_args()
  config = base.adapting()
  config.data.video = args.video
  config.adapt.mode = args.mode
  frames = data.read_iframes(args.video, config.data.fps)
  if args.mode == 'latents':
    frames = frames[:3]  # per-frame optimisation: a few frames give its speed
  # latents: steps per frame = steps·batch/frames, so this gives `args.steps` steps per frame.
  config.adapt.steps = args.steps * (len(frames) if args.mode == 'latents' else 1)
  config.adapt.joint_steps = args.steps
  config.adapt.log_every = 5
  theta_d = zoo.load_global_model(config.global_model)
  arch, params = theta_d.arch, theta_d.params
  with tempfile.TemporaryDirectory() as workdir:
    adapted = finetune.adapt(config, arch, params, frames, pathlib.Path(workdir))
  phase = {'latents': 'latents', 'encoder': 'encoder', 'full': 'joint'}[args.mode]
  history = [h for h in adapted.history if h['phase'] == phase]
  rate = steps_per_second(history, per_frame=args.mode == 'latents')
  if args.mode == 'latents':
    pixels = frames.shape[1] * frames.shape[2]
  elif config.adapt.crop:
    pixels = config.adapt.batch_size * min(config.adapt.crop, *frames.shape[1:3]) ** 2
  else:
    pixels = config.adapt.batch_size * frames.shape[1] * frames.shape[2]
  result = {'mode': args.mode, 'steps_per_s': rate, 'pixels_per_step': pixels,
            'mpix_per_s': rate * pixels / 1e6,
            'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
  print(json.dumps(result))
  args.out.write_text(json.dumps(result) + '\n')


if __name__ == '__main__':
  main()
