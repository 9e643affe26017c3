"""The CPU dry run of the device training script: the exact command a lent accelerator runs,
shrunk by --config overrides: from weights trained elsewhere, then resumed from what that run
returned (the sittings θ_D's training takes; from scratch is global training's own path)."""
import json
import shutil

import flax
import numpy as np
import jax

from conftest import TINY, load_script, run_python
from rdm import data, files, model, zoo

SHRINK = ['--probe_steps', '4', '--config.model.N=8', '--config.model.M=8',
          '--config.train.batch_size=2', '--config.train.crop=64', '--config.train.warmup_steps=5',
          '--config.train.eval_side=128', '--adapt_config.adapt.batch_size=1']
DEVICE_RETURN_LIMIT = 16 * 2 ** 20  # bytes per file a device run sends back (8 files at most)


def device_run(out, photos, budget_s, *start_from):
  args = ['scripts/device_train.py', '--out', str(out), '--photos', str(photos),
          '--budget_s', str(budget_s), *start_from, *SHRINK]
  result = run_python(args, timeout=3 * budget_s)
  assert result.returncode == 0, result.stderr[-3000:]
  state = json.loads((out / 'state.json').read_text())
  assert state['wall_s'] <= budget_s, state['wall_s']  # ends inside the time it was given
  files = sorted(p.name for p in out.iterdir())
  assert files == ['ema_bf16.msgpack', 'metrics.jsonl', 'params_bf16.msgpack', 'report.txt',
                   'state.json']
  assert all((out / f).stat().st_size < DEVICE_RETURN_LIMIT for f in files)
  assert np.isfinite(state['eval']['psnr']) and np.isfinite(state['eval']['ema_psnr'])
  assert 'devices:' in result.stdout and 'steps/s' in result.stdout
  return state


def test_device_training_starts_from_weights_trained_elsewhere_resumes_and_returns_what_fits(
    tmp_path, photo_dirs):
  """A first sitting from θ trained on the CPU (--init: a params file with the state.json of its
  run beside it), counting the steps behind it; a second sitting from what the first returned
  (--resume), as the next lent device would run it."""
  source = tmp_path / 'cpu'
  source.mkdir()
  params = model.init_params(TINY, jax.random.PRNGKey(7))
  (source / 'params.msgpack').write_bytes(flax.serialization.to_bytes(params))
  files.write_json(source / 'state.json', {'steps_total': 1234})
  first = device_run(tmp_path / 'first', photo_dirs, 70, '--init', str(source / 'params.msgpack'))
  assert first['sittings'] == 1 and first['steps_this_sitting'] > 0
  assert first['started_from'] == {'init_from': str(source / 'params.msgpack'),
                                   'sha256': zoo.params_hash(params), 'steps_before': 1234}
  assert first['steps_total'] == 1234 + first['steps_this_sitting']
  assert first['global_steps_per_s'] > 0 and first['finetune_steps_per_s'] > 0
  first_line = json.loads((tmp_path / 'first' / 'metrics.jsonl').read_text().splitlines()[0])
  assert first_line['step'] > 1234
  returned = tmp_path / 'first' / 'params_bf16.msgpack'
  params = zoo.load_params(str(returned), TINY)
  assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(params))
  second = device_run(tmp_path / 'second', photo_dirs, 45, '--resume', str(tmp_path / 'first'))
  assert second['sittings'] == 2
  assert second['started_from'] == {'init_from': str(returned), 'sha256': zoo.params_hash(params),
                                    'steps_before': first['steps_total']}
  assert second['steps_total'] == first['steps_total'] + second['steps_this_sitting']
  steps = [json.loads(l)['step'] for l in
           (tmp_path / 'second' / 'metrics.jsonl').read_text().splitlines()]
  assert steps == sorted(steps) and steps[-1] == second['steps_total']
  run = load_script('export_model').read_run(tmp_path / 'second')  # what its manifest would say
  assert run['steps'] == second['steps_this_sitting'] and run['config']['model']['N'] == TINY.N
  assert run['started_from'] == second['started_from']
  assert run['steps_total'] == second['steps_total']
  assert zoo.params_hash(zoo.load_params(run['source'], TINY)) != zoo.params_hash(params)


def test_packing_keeps_every_training_photo_downscaled(tmp_path, photo_dirs, bikes_frames):
  photos = tmp_path / 'photos'
  shutil.copytree(photo_dirs, photos)
  (photos / 'more' / 'a-package').mkdir(parents=True)
  files.save_png(photos / 'more' / 'a-package' / '0.png', bikes_frames[0])  # train has a 0.png
  result = run_python(['scripts/pack_photos.py', '--photos', str(photos), '--out',
                       str(tmp_path / 'pack'), '--short_side', '64'],
                      timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  packed = {split: data.list_images(tmp_path / 'pack' / split) for split in ('train', 'eval')}
  assert len(packed['train']) == len(bikes_frames) + 1 and len(packed['eval']) == 1
  assert all(min(data.load_image(p).shape[:2]) == 64 for p in packed['train'] + packed['eval'])
