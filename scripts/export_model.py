"""Ship a trained θ_D: models/<name>/{params.msgpack, manifest.json} with its measured RD.

    python scripts/export_model.py --workdir runs/global-b128 --name msh-n64-beta128 \
        --command "python -m rdm.main --config=configs/global.py --workdir=runs/global-b128 ..."

The manifest records the config, data, steps and wall time of the run, the parameter hash (the
model id in bitstreams), and RD from real bytes on the held-out photos and on the bundled clips'
2 fps I-frames. A workdir that kept a moving average of θ (train.ema_decay) ships whichever of θ
and the average has the lower coded L = MSE + β·bpp on the held-out photos; both are recorded.
What ships is rounded to bfloat16 values (stored in half the bytes; the float32 θ's held-out RD is
recorded beside it), and a workdir's held-out curve (train.eval_every) goes into the manifest.
"""
import argparse
import json
import pathlib


import ml_collections
import numpy as np

from device_train import RETURNED_EMA, RETURNED_PARAMS, returned_state
from rdm import checkpoint, data, model, pipeline, stream, train, zoo


def measure(theta_d: zoo.GlobalModel, frames: np.ndarray) -> dict:
  r = pipeline.summarize(frames, stream.encode_frames(theta_d, frames),
                         theta_d.manifest['config']['loss']['beta'])
  return {k: r[k] for k in ('bpp_total', 'bpp_latent', 'psnr', 'estimated_bpp_latent',
                            'L_rdm_coded')}


def measure_params(arch, params, frames: np.ndarray, info: dict) -> dict:
  """measure() of θ before it is saved under a name."""
  return measure(zoo.GlobalModel(arch, params, {**info, 'sha256': zoo.params_hash(params)}), frames)


def heldout_choice(arch, sources: dict, photos: np.ndarray, info: dict) -> tuple[str, dict]:
  """(the name of the θ among `sources` that codes the held-out photos at the lowest L, each
  one's held-out RD)."""
  rd = {name: measure_params(arch, params, photos, info) for name, params in sources.items()}
  return min(rd, key=lambda n: rd[n]['L_rdm_coded']), rd


def read_run(workdir: pathlib.Path) -> dict:
  """What the manifest says of a global-training workdir or of a folder a device run returned:
  its config, the θ source for zoo.load_params and its moving average's (None: none kept), where
  it started, its last sitting's steps, the steps from scratch (None: not recorded) and wall
  time."""
  if (workdir / RETURNED_PARAMS).is_file():
    state = returned_state(workdir)
    ema = workdir / RETURNED_EMA
    return {'config': state['config'], 'source': str(workdir / RETURNED_PARAMS),
            'ema_source': str(ema) if ema.is_file() else None,
            'started_from': state['started_from'], 'steps': state['steps_this_sitting'],
            'steps_total': state['steps_total'], 'wall_s': state['wall_s']}
  steps = checkpoint.manager(workdir / 'checkpoints').latest_step()  # the θ that ships
  lines = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  last = [l for l in lines if 'train_loss' in l and l['step'] <= steps][-1]
  config = json.loads((workdir / 'config.json').read_text())
  return {'config': config, 'source': str(workdir),
          'ema_source': str(workdir / zoo.EMA) if config['train'].get('ema_decay') else None,
          'started_from': train.start_record(workdir), 'steps': steps,
          'steps_total': train.steps_behind(str(workdir)), 'wall_s': last['wall_s'],
          'heldout_curve': heldout_curve_record(workdir, config, steps)}


def heldout_curve_record(workdir: pathlib.Path, config: dict, steps: int) -> dict:
  """The member's held-out L (estimated bits, the better of θ and its average) by step, over the
  sittings it continues, the step its learning rate dropped at (0: never), and whether it had
  converged by its last step in the sense of train.converge_window/converge_tol/lr_drop_tol."""
  curve = train.member_curve(workdir, config['loss']['beta'], upto=steps)
  cfg = ml_collections.ConfigDict({'converge_window': 0, 'converge_tol': 0.0, 'lr_drop_tol': 0.0,
                                   **config['train']})
  drop_at = train.lr_drop_step(curve, cfg.converge_window, cfg.lr_drop_tol)
  return {'step_L': [[k, round(v, 3)] for k, v in sorted(curve.items())],
          'converge_window': cfg.converge_window, 'converge_tol': cfg.converge_tol,
          'lr_drop_tol': cfg.lr_drop_tol, 'lr_drop_at': drop_at,
          'converged': train.converged_at(curve, max(curve, default=0), cfg, drop_at)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', required=True,
                      help='a training workdir, or a folder scripts/device_train.py returned')
  parser.add_argument('--eval_photos', help="held-out photos to measure on (default: the run's "
                      'train.eval_photos; a device run names its packed JPEG copies)')
  parser.add_argument('--name', required=True)
  parser.add_argument('--command', required=True, help='the command(s) that trained it')
  args = parser.parse_args()
  run = read_run(pathlib.Path(args.workdir))
  config = run['config']
  arch = model.Architecture.from_config(config['model'])
  float32 = {'raw': zoo.load_params(run['source'], arch)}
  if run['ema_source']:
    float32['ema'] = zoo.load_params(run['ema_source'], arch)
  sources = {name: zoo.bfloat16_rounded(params) for name, params in float32.items()}
  info = {
      'config': config, 'command': args.command,
      # the photos of the last sitting (earlier sittings: the manifest's command)
      'training_data': f'{len(data.photo_paths(config["train"]["photos"]))} photographs of '
                       f'{config["train"]["photos"]} (scripts/gather_photos.py), short side '
                       f'{config["train"]["short_side"] or "as they are"}, '
                       f'{config["train"]["crop"]}² crops',
      'steps': run['steps'],  # of this run (started_from: where it started)
      'steps_total': run['steps_total'],  # null: a start from before the record
      'started_from': run['started_from'],
      'wall_s_last_sitting': run['wall_s'],
      'parameters': model.parameter_count(sources['raw']),
  }
  if run.get('heldout_curve'):
    info['heldout_curve'] = run['heldout_curve']
  side = config['train'].get('eval_side', config['train']['short_side'])
  photos = data.load_photo_folder(args.eval_photos or config['train']['eval_photos'], side, 64)
  photos = train.center_crops(photos, 512).astype(np.uint8)
  shipped, heldout = heldout_choice(arch, sources, photos, info)
  params = sources[shipped]
  info['weights'] = {'shipped': shipped, 'heldout_photos': heldout, 'stored': 'bfloat16 values',
                     'heldout_photos_float32': measure_params(arch, float32[shipped], photos,
                                                              info)}
  zoo.save_global_model(args.name, params, info)
  theta_d = zoo.load_global_model(args.name)
  rd = {'heldout_photos': heldout[shipped]}
  for clip in data.BUNDLED_CLIPS:
    rd[pathlib.Path(clip).stem] = measure(theta_d, data.read_iframes(clip))
  info['rd_real_bytes'] = rd
  m = zoo.save_global_model(args.name, params, info)
  print(json.dumps({k: m[k] for k in ('name', 'sha256', 'steps', 'rd_real_bytes')}, indent=1))


if __name__ == '__main__':
  main()
