"""Claim: N processes under jax.distributed take the step one process takes on the same global
batch (localhost, CPU collectives through gloo)."""
import json
import os
import socket
import subprocess
import sys
import tempfile

import jax
import numpy as np
import pytest

from conftest import ROOT, run_python, tiny_train_args
from rdm import model, zoo


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def run_processes(count: int, args: list, timeout: int = 600) -> list:
  """Start `count` processes of one multi-process job and wait for all of them. Their output goes
  to files: a pipe nobody reads while waiting on another process would block a chatty process
  and leave the others waiting for it at jax.distributed's shutdown barrier."""
  address = f'localhost:{free_port()}'
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}  # one CPU device each
  errs = [tempfile.TemporaryFile('w+') for _ in range(count)]
  procs = [subprocess.Popen(
      [sys.executable, *args, f'--coordinator_address={address}', f'--num_processes={count}',
       f'--process_id={i}'], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
      for i, err in enumerate(errs)]
  try:
    codes = [p.wait(timeout=timeout) for p in procs]
  finally:
    for p in procs:
      p.kill()
  return [(code, read_back(err)) for code, err in zip(codes, errs)]


def read_back(file) -> str:
  file.seek(0)
  with file:
    return file.read()


def train_losses(workdir) -> list:
  return [json.loads(l)['train_loss'] for l in (workdir / 'metrics.jsonl').read_text().splitlines()
          if 'train_loss' in l]


@pytest.mark.optimized
def test_two_processes_reach_the_loss_and_parameters_of_one_process(tmp_path, photo_dirs):
  """The two processes stop at step 2 and resume: the second sitting reads its executables, gloo
  collectives included, back from the suite's persistent compilation cache. The learning rate
  drops at step 2 (the first pair of held-out evaluations), which process 0 alone can see: the
  second sitting takes the step from it."""
  steps = 4
  one, two = tmp_path / 'one', tmp_path / 'two'
  drop = ('--config.train.eval_every=1', '--config.train.converge_window=1',
          '--config.train.converge_tol=0', '--config.train.lr_drop_tol=1')
  single = run_python(tiny_train_args(one, photo_dirs, steps, drop))
  assert single.returncode == 0, single.stderr[-3000:]
  for sitting in ('--config.train.stop_at=2', '--config.train.stop_at=0'):
    for code, stderr in run_processes(2, tiny_train_args(two, photo_dirs, steps,
                                                         (*drop, sitting))):
      assert code == 0, stderr[-3000:]
  # Each process logs to its own file in the workdir: both really joined a 2-process job, twice.
  joined = sorted(log.read_text().split(' of 2, devices')[0].split('process ')[-1]
                  for log in two.glob('rdm.*.log.INFO.*') if ' of 2, devices' in log.read_text())
  assert joined == ['0', '0', '1', '1']
  resumed = [log.read_text() for log in two.glob('rdm.*.log.INFO.*')
             if 'resumed from step 2' in log.read_text()]
  assert len(resumed) == 2 and all('learning rate × 0.1 from step 2' in log for log in resumed)
  np.testing.assert_allclose(train_losses(two), train_losses(one), rtol=1e-5)
  arch = model.Architecture(8, 8)
  for a, b in zip(jax.tree_util.tree_leaves(zoo.load_params(str(one), arch)),
                  jax.tree_util.tree_leaves(zoo.load_params(str(two), arch))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_bad_process_id_is_rejected(tmp_path, photo_dirs):
  result = run_python(tiny_train_args(tmp_path, photo_dirs, 1, (
      '--coordinator_address=localhost:1', '--num_processes=2', '--process_id=2')))
  assert result.returncode != 0
  assert 'process_id must be in [0, 2)' in result.stderr


@pytest.mark.optimized
def test_the_adaptation_job_writes_the_same_rdm_on_one_device_two_devices_and_two_processes(
    use_tiny_models, tmp_path):
  """A batch of 3 on 2 devices is padded with a weight-0 example: the steps, the candidates'
  coded L, δ̂ and the stream must still be exactly those of one device, whether the two devices
  are in one process or in two."""
  args = ['-m', 'rdm.main', '--config=configs/xiph_beta.py', '--config.model.N=8',
          '--config.model.M=8', '--config.global_model=tiny-a', '--config.data.video=carphone',
          '--config.data.max_frames=2', '--config.adapt.steps=3', '--config.adapt.joint_steps=6',
          '--config.adapt.batch_size=3',
          '--config.adapt.crop=64', '--config.adapt.lr=3e-3', '--config.adapt.delta_lr=3e-2',
          '--config.adapt.t=0.01', '--config.adapt.warmup_steps=0']
  one, devices, processes = tmp_path / 'one', tmp_path / 'devices', tmp_path / 'processes'
  for workdir, count in ((one, 1), (devices, 2)):
    result = run_python([*args, f'--workdir={workdir}'], env={
        'XLA_FLAGS': f'--xla_force_host_platform_device_count={count}'})
    assert result.returncode == 0, result.stderr[-3000:]
  for code, stderr in run_processes(2, [*args, f'--workdir={processes}']):
    assert code == 0, stderr[-3000:]
  assert 'CpuDevice(id=1)]' in next(devices.glob('rdm.*.log.INFO.*')).read_text()
  (results,) = one.glob('results-*.json')
  rows = json.loads(results.read_text())['rows']
  assert next(v for k, v in rows.items() if k.startswith('full'))['bpp_update'] > 0
  (a,), (b,), (c,) = (w.glob('*.rdm') for w in (one, devices, processes))
  assert a.read_bytes() == b.read_bytes() == c.read_bytes()
