"""Claims about global training: a real step, pmap == jit, resume after a kill, strict configs."""
import json
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import ROOT, run_python, tiny_train_args
from rdm import zoo


def test_one_real_training_step_writes_metrics_and_a_checkpoint(tmp_path, photo_dirs):
  result = run_python(tiny_train_args(tmp_path, photo_dirs, 1))
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  train_line = lines[0]
  for key in ('train_loss', 'train_bpp', 'train_mse', 'train_psnr', 'train_l2_grads',
              'steps_per_s'):
    assert np.isfinite(train_line[key]), key
  assert 'eval_psnr' in lines[-1]
  assert (tmp_path / 'checkpoints' / '1').is_dir()


def test_pmap_step_equals_jit_step_on_two_devices():
  result = run_python(['tests/pmap_vs_jit.py'],
                      env={'XLA_FLAGS': '--xla_force_host_platform_device_count=2',
                           'PYTHONPATH': str(ROOT)})
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'PMAP_EQUALS_JIT' in result.stdout


def final_params(workdir):
  return zoo.load_params(str(workdir), zoo.model.Architecture(8, 8))


def test_killed_run_resumes_from_its_checkpoint_and_ends_where_an_uninterrupted_run_ends(
    tmp_path, photo_dirs):
  steps = 30
  killed, clean = tmp_path / 'killed', tmp_path / 'clean'
  proc = subprocess.Popen([sys.executable, *tiny_train_args(killed, photo_dirs, steps)],
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not (killed / 'checkpoints' / '10').is_dir():
    assert proc.poll() is None, 'the run ended before it could be killed'
    assert time.time() < deadline
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  resumed = run_python(tiny_train_args(killed, photo_dirs, steps))
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  log = (killed / 'rdm.INFO').read_text()  # the resumed run's log (the link follows the newest)
  assert 'resumed from step' in log
  resumed_from = int(log.split('resumed from step')[1].split()[0])
  assert 10 <= resumed_from < steps
  assert run_python(tiny_train_args(clean, photo_dirs, steps)).returncode == 0
  for a, b in zip(jax.tree_util.tree_leaves(final_params(killed)),
                  jax.tree_util.tree_leaves(final_params(clean))):
    np.testing.assert_array_equal(a, b)


def test_loss_falls_during_a_short_run(tmp_path, photo_dirs):
  result = run_python(tiny_train_args(tmp_path, photo_dirs, 40))
  assert result.returncode == 0, result.stderr[-3000:]
  losses = [json.loads(l)['train_loss'] for l in
            (tmp_path / 'metrics.jsonl').read_text().splitlines() if 'train_loss' in l]
  assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_unknown_config_key_is_rejected(tmp_path):
  result = run_python(['-m', 'rdm.main', '--config=configs/global.py', f'--workdir={tmp_path}',
                       '--config.train.bogus_field=1'])
  assert result.returncode != 0
  assert 'bogus_field' in result.stderr


def test_stray_arguments_are_rejected(tmp_path):
  result = run_python(['-m', 'rdm.main', '--config=configs/global.py', f'--workdir={tmp_path}',
                       'extra'])
  assert result.returncode != 0
  assert 'unexpected arguments' in result.stderr


def test_a_non_finite_loss_stops_training_naming_the_step():
  from rdm import steps
  with pytest.raises(FloatingPointError, match='non-finite loss at step 17'):
    steps.check_finite({'loss': float('nan'), 'bpp': 0.5}, 17)
  steps.check_finite({'loss': 1.0, 'bpp': 0.5}, 18)  # finite values pass
