"""Claims about global training: a real step, pmap == jit, resume after a kill, strict configs."""
import importlib
import json
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from conftest import ROOT, load_script, run_python, tiny_train_args
from rdm import checkpoint, configuration, data, errors, train, trainer, zoo


def test_one_real_training_step_writes_metrics_and_a_checkpoint(tmp_path, photo_dirs):
  result = run_python(tiny_train_args(tmp_path, photo_dirs, 1))
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  train_line = lines[0]
  for key in ('train_loss', 'train_bpp', 'train_mse', 'train_psnr', 'train_l2_grads',
              'steps_per_s'):
    assert np.isfinite(train_line[key]), key
  assert 'eval_psnr' in lines[-1] and 'eval_ema_psnr' in lines[-1]
  assert (tmp_path / 'checkpoints' / '1').is_dir()


@pytest.mark.optimized
def test_pmap_step_equals_jit_step_on_two_devices():
  result = run_python(['tests/pmap_vs_jit.py'],
                      env={'XLA_FLAGS': '--xla_force_host_platform_device_count=2'})
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'PMAP_EQUALS_JIT' in result.stdout


def final_params(workdir):
  return zoo.load_params(str(workdir), zoo.model.Architecture(8, 8))


def test_killed_run_resumes_from_its_checkpoint_and_ends_where_an_uninterrupted_run_ends(
    tmp_path, photo_dirs):
  steps = 30
  # Held-out L every 5 steps; the learning rate drops where it first moved by ≤ 100 % over 5
  # steps (step 10), and a resumed run must drop it there too.
  drop = ['--config.train.eval_every=5', '--config.train.converge_window=5',
          '--config.train.converge_tol=0', '--config.train.lr_drop_tol=1']
  killed, clean = tmp_path / 'killed', tmp_path / 'clean'
  proc = subprocess.Popen([sys.executable, *tiny_train_args(killed, photo_dirs, steps, drop)],
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not (killed / 'checkpoints' / '10').is_dir():
    assert proc.poll() is None, 'the run ended before it could be killed'
    assert time.time() < deadline
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  resumed = run_python(tiny_train_args(killed, photo_dirs, steps, drop))
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  log = (killed / 'rdm.INFO').read_text()  # the resumed run's log (the link follows the newest)
  assert 'resumed from step' in log
  resumed_from = int(log.split('resumed from step')[1].split()[0])
  assert 10 <= resumed_from < steps
  assert 'learning rate × 0.1 from step 10' in log
  assert run_python(tiny_train_args(clean, photo_dirs, steps, drop)).returncode == 0
  assert 'learning rate × 0.1 from step 10' in (clean / 'rdm.INFO').read_text()
  for source in ('', 'ema'):  # θ and its moving average, kept in the same checkpoints
    for a, b in zip(jax.tree_util.tree_leaves(final_params(killed / source)),
                    jax.tree_util.tree_leaves(final_params(clean / source))):
      np.testing.assert_array_equal(a, b)
  assert not all(np.array_equal(a, b) for a, b in zip(
      jax.tree_util.tree_leaves(final_params(clean)),
      jax.tree_util.tree_leaves(final_params(clean / 'ema'))))


def test_the_moving_average_follows_theta_with_a_warm_up():
  ema, params = {'w': np.zeros(3, np.float32)}, {'w': np.ones(3, np.float32)}
  first = trainer.ema_update(ema, params, 1, 0.999)  # decay (1 + 1) / (10 + 1)
  np.testing.assert_allclose(first['w'], 9 / 11, rtol=1e-6)
  late = trainer.ema_update(ema, params, 10 ** 6, 0.999)  # the configured decay
  np.testing.assert_allclose(late['w'], 0.001, rtol=1e-3)


def test_a_checkpoint_written_before_the_moving_average_existed_still_resumes(tmp_path):
  params = {'w': np.arange(3, dtype=np.float32)}
  tx = optax.adam(1e-3)
  old = trainer.create_train_state(params, tx)
  mgr = checkpoint.manager(tmp_path)
  # TrainState's fields before 2026-12-06, as the finetuning runs of RQ1 saved them.
  checkpoint.save(mgr, 7, {'step': 7, 'params': params, 'opt_state': old.opt_state}, wait=True)
  restored = checkpoint.restore_latest(checkpoint.manager(tmp_path), old)
  assert int(restored.step) == 7 and restored.ema is None
  np.testing.assert_array_equal(restored.params['w'], params['w'])
  with pytest.raises(ValueError):  # a run that keeps an average cannot invent it
    checkpoint.restore_latest(checkpoint.manager(tmp_path),
                              trainer.create_train_state(params, tx, ema=True))


def test_a_run_counts_the_steps_behind_its_start_as_they_were_when_it_started(tmp_path,
                                                                             photo_dirs):
  # The ladder's manifests once said 23,000 steps for 17,000: the export looked its start up again
  # after the name had been given to a model trained further. Here the source trains on instead.
  first, second = tmp_path / 'first', tmp_path / 'second'
  assert run_python(tiny_train_args(first, photo_dirs, 3)).returncode == 0
  started = zoo.params_hash(final_params(first))
  result = run_python(tiny_train_args(second, photo_dirs, 2,
                                      [f'--config.train.init_from={first}']))
  assert result.returncode == 0, result.stderr[-3000:]
  assert run_python(tiny_train_args(first, photo_dirs, 6)).returncode == 0
  assert train.steps_behind(str(first)) == 6
  assert train.steps_behind(str(first / zoo.EMA)) == 6  # its moving average, as the v7 ladder starts
  assert train.start_record(second) == {'init_from': str(first), 'sha256': started,
                                        'steps_before': 3}
  assert train.steps_behind(str(second)) == 5


def test_loss_falls_during_a_short_run(tmp_path, photo_dirs):
  result = run_python(tiny_train_args(tmp_path, photo_dirs, 40))
  assert result.returncode == 0, result.stderr[-3000:]
  losses = [json.loads(l)['train_loss'] for l in
            (tmp_path / 'metrics.jsonl').read_text().splitlines() if 'train_loss' in l]
  assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def tiny_global_config(photo_dirs, **fields):
  return configuration.with_fields(importlib.import_module('configs.global').get_config(), {
      'model.N': 8, 'model.M': 8, 'train.photos': f'{photo_dirs}/train',
      'train.eval_photos': f'{photo_dirs}/eval', 'train.short_side': 128, 'train.eval_side': 64,
      'train.crop': 64, 'train.batch_size': 2, 'train.log_every': 1, 'train.warmup_steps': 1,
      **fields})


def test_a_run_without_a_final_eval_never_reads_the_held_out_photos(tmp_path, photo_dirs):
  # scripts/device_train.py evaluates the θ it returns itself, at full precision.
  config = tiny_global_config(photo_dirs, **{
      'train.steps': 2, 'train.eval_photos': str(tmp_path / 'no such folder'),
      'train.eval_every': 0})
  assert train.train_and_evaluate(config, str(tmp_path / 'run'), final_eval=False) is None
  lines = (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()
  assert len(lines) == 2 and not any('eval_psnr' in l for l in lines)
  with pytest.raises(data.InputError, match='no such image folder'):  # the default evaluates
    train.train_and_evaluate(config, str(tmp_path / 'evaluated'))


def test_held_out_convergence_compares_the_better_of_theta_and_its_average_a_window_apart(
    tmp_path):
  metrics = tmp_path / 'metrics.jsonl'
  lines = [{'step': 5, 'train_loss': 1.0},
           {'step': 10, 'eval_mse': 100.0, 'eval_bpp': 0.5, 'eval_ema_mse': 90.0,
            'eval_ema_bpp': 0.5},
           {'step': 20, 'eval_mse': 80.0, 'eval_bpp': 0.5, 'eval_ema_mse': 95.0,
            'eval_ema_bpp': 0.5},
           {'step': 30, 'eval_mse': 1.0, 'eval_bpp': 0.0}]  # past the checkpoint: lost to a kill
  metrics.write_text(''.join(json.dumps(l) + '\n' for l in lines))
  curve = train.heldout_curve(metrics, beta=20.0, upto=20)
  assert curve == {10: 100.0, 20: 90.0}
  assert train.has_converged(curve, 20, window=10, tol=0.11)
  assert not train.has_converged(curve, 20, window=10, tol=0.09)
  assert not train.has_converged(curve, 20, window=20, tol=1.0)  # no evaluation at step 0
  assert not train.has_converged(curve, 20, window=0, tol=1.0)


def test_the_learning_rate_drops_at_the_first_plateau_and_convergence_is_judged_after_it():
  curve = {10: 100.0, 20: 99.5, 30: 99.4, 40: 99.39}
  assert train.lr_drop_step(curve, window=10, tol=0.01) == 20
  assert train.lr_drop_step(curve, window=10, tol=0.002) == 30
  assert train.lr_drop_step(curve, window=10, tol=0.0) == 0  # no drop configured
  cfg = ml_collections.ConfigDict({'converge_window': 10, 'converge_tol': 0.005,
                                   'lr_drop_tol': 0.01})
  assert train.has_converged(curve, 20, 10, 0.005)
  assert not train.converged_at(curve, 20, cfg, drop_at=20)  # its window began at the old rate
  assert train.converged_at(curve, 30, cfg, drop_at=20)
  assert not train.converged_at(curve, 30, cfg, drop_at=0)  # the rate has not dropped yet
  cfg.lr_drop_tol = 0.0
  assert train.converged_at(curve, 20, cfg, drop_at=0)
  lr = trainer.schedule(1.0, 0, 100, 1.0, drop_at=20, drop_factor=0.1)
  assert float(lr(19)) == 1.0 and float(lr(20)) == pytest.approx(0.1)
  params = {'w': jnp.ones(3)}
  assert (jax.tree_util.tree_structure(trainer.make_optimizer(1.0, 0, 100, 1.0).init(params)) ==
          jax.tree_util.tree_structure(
              trainer.make_optimizer(1.0, 0, 100, 1.0, drop_at=20, drop_factor=0.1).init(params)))


def test_a_run_stops_where_its_held_out_loss_converged_and_a_rerun_trains_no_further(
    tmp_path, photo_dirs):
  config = tiny_global_config(photo_dirs, **{'train.steps': 12, 'train.eval_every': 1,
                                             'train.converge_window': 2,
                                             'train.converge_tol': 1.0})
  workdir = tmp_path / 'run'
  ev = train.train_and_evaluate(config, str(workdir))
  assert np.isfinite(ev['mse'])
  assert checkpoint.manager(workdir / 'checkpoints').latest_step() == 3  # steps 1 and 3 compared
  record = load_script('export_model').heldout_curve_record(  # what the manifest shows
      workdir, json.loads((workdir / 'config.json').read_text()), 3)
  assert [step for step, _ in record['step_L']] == [1, 2, 3] and record['converged']
  lines = (workdir / 'metrics.jsonl').read_text().splitlines()
  train.train_and_evaluate(config, str(workdir))
  assert checkpoint.manager(workdir / 'checkpoints').latest_step() == 3
  assert (workdir / 'metrics.jsonl').read_text().splitlines() == lines
  with (workdir / 'metrics.jsonl').open('a') as f:  # a snapshot of a run still training
    f.write(json.dumps({'step': 4, 'train_loss': 1.0, 'wall_s': 1e6}) + '\n')
  run = load_script('export_model').read_run(workdir)
  assert run['steps'] == 3 and run['wall_s'] < 1e6  # the checkpoint's, which ships
  assert run['heldout_curve']['step_L'][-1][0] == 3


def test_a_sitting_from_a_shipped_member_continues_its_steps_learning_rate_and_curve(
    tmp_path, photo_dirs, monkeypatch):
  # Machines are lent per session and lose runs/: a member shipped at a sitting's end is where
  # the next sitting, on another machine, goes on.
  monkeypatch.setattr(zoo, 'MODELS_DIR', tmp_path / 'models')
  fields = {'train.steps': 12, 'train.eval_every': 1, 'train.converge_window': 2,
            'train.lr_drop_tol': 1.0}  # the rate drops at step 3, the first window's end
  first = tmp_path / 'first'
  train.train_and_evaluate(tiny_global_config(photo_dirs, **fields, **{
      'train.stop_at': 4, 'train.converge_tol': 0.0}), str(first))
  config = json.loads((first / 'config.json').read_text())
  record = load_script('export_model').heldout_curve_record(first, config, 4)
  assert (record['lr_drop_at'], record['converged']) == (3, False)
  zoo.save_global_model('tiny-member', final_params(first), {
      'config': config, 'steps': 4, 'steps_total': 4, 'heldout_curve': record})

  second = tmp_path / 'second'
  train.train_and_evaluate(tiny_global_config(photo_dirs, **fields, **{
      'train.converge_tol': 1.0, 'train.init_from': 'tiny-member'}), str(second))
  # Step 5's window reaches back to step 3 of the first sitting, at the dropped rate: converged
  # after one step (a run from step 0 would take five).
  assert checkpoint.manager(second / 'checkpoints').all_steps() == [5]
  trained = [json.loads(l)['step'] for l in (second / 'metrics.jsonl').read_text().splitlines()
             if 'train_loss' in l]
  assert trained == [5] and train.steps_behind(str(second)) == 5
  record = load_script('export_model').heldout_curve_record(
      second, json.loads((second / 'config.json').read_text()), 5)
  assert [step for step, _ in record['step_L']] == [1, 2, 3, 4, 5]
  assert (record['lr_drop_at'], record['converged']) == (3, True)
  state = trainer.at_step(trainer.create_train_state(
      {'w': jnp.ones(3)}, trainer.make_optimizer(1.0, 2, 100, 1.0, drop_at=3, drop_factor=0.1)),
      7)
  kinds = (optax.ScaleByAdamState, optax.ScaleByScheduleState)
  counts = {type(s).__name__: int(s.count) for s in jax.tree_util.tree_leaves(
      state.opt_state, is_leaf=lambda x: isinstance(x, kinds)) if isinstance(s, kinds)}
  assert int(state.step) == 7 and counts == {'ScaleByAdamState': 0, 'ScaleByScheduleState': 7}


def test_a_sitting_past_its_stop_by_time_ends_at_its_next_checkpoint_and_a_rerun_goes_on(
    tmp_path, photo_dirs):
  fields = {'train.steps': 12, 'train.checkpoint_every': 3, 'train.eval_every': 0}
  workdir = tmp_path / 'run'
  train.train_and_evaluate(tiny_global_config(photo_dirs, **fields, **{
      'train.stop_by': int(time.time())}), str(workdir), final_eval=False)
  assert checkpoint.manager(workdir / 'checkpoints').all_steps() == [3]
  train.train_and_evaluate(tiny_global_config(photo_dirs, **fields, **{
      'train.stop_by': int(time.time()) + 3600}), str(workdir), final_eval=False)
  assert checkpoint.manager(workdir / 'checkpoints').latest_step() == 12


def test_a_convergence_window_needs_evaluations_at_its_ends(tmp_path, photo_dirs):
  config = tiny_global_config(photo_dirs, **{'train.steps': 4, 'train.eval_every': 3,
                                             'train.converge_window': 4})
  with pytest.raises(errors.ConfigError, match='eval_every'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  config = tiny_global_config(photo_dirs, **{'train.steps': 4, 'train.lr_drop_tol': 0.01})
  with pytest.raises(errors.ConfigError, match='converge_window'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))


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
  from rdm import trainer
  with pytest.raises(errors.UserError, match='non-finite loss at step 17'):
    trainer.check_finite({'loss': float('nan'), 'bpp': 0.5}, 17)
  trainer.check_finite({'loss': 1.0, 'bpp': 0.5}, 18)  # finite values pass


def test_a_later_phase_continues_the_adam_moments_of_the_parameters_an_earlier_phase_trained():
  import jax.numpy as jnp
  import optax
  from rdm import trainer
  encoder = {'encoder': {'w': jnp.arange(3.0)}}
  tx_first = trainer.make_optimizer({'encoder': 1e-2}, 2, 10, 0.1)
  first = trainer.create_train_state(encoder, tx_first)
  for i in range(3):
    grads = {'encoder': {'w': jnp.array([1.0, -2.0, 0.5]) * (i + 1)}}
    _, first_opt = tx_first.update(grads, first.opt_state, first.params)
    first = first.replace(opt_state=first_opt)
  tx = trainer.make_optimizer({'encoder': 1e-2, 'delta': 1e-3}, 2, 10, 0.1)
  joint = trainer.create_train_state({**encoder, 'delta': {'d': jnp.zeros(2)}}, tx)
  carried = trainer.carry_adam_moments(joint.opt_state, first.opt_state)
  old_adam = first.opt_state.inner_states['encoder'].inner_state[0]
  new_adam = carried.inner_states['encoder'].inner_state[0]
  assert int(new_adam.count) == 3
  np.testing.assert_array_equal(new_adam.mu['encoder']['w'], old_adam.mu['encoder']['w'])
  np.testing.assert_array_equal(new_adam.nu['encoder']['w'], old_adam.nu['encoder']['w'])
  assert isinstance(new_adam.mu['delta'], optax.MaskedNode)
  assert float(np.abs(new_adam.nu['encoder']['w']).min()) > 0
  # δ's Adam (trained by no earlier phase) and both schedules start anew.
  delta_adam = carried.inner_states['delta'].inner_state[0]
  assert int(delta_adam.count) == 0 and not np.any(delta_adam.mu['delta']['d'])
  assert int(carried.inner_states['encoder'].inner_state[1].count) == 0
  # The carried state is one the joint optimizer steps from.
  updates, _ = tx.update({'encoder': {'w': jnp.ones(3)}, 'delta': {'d': jnp.ones(2)}}, carried,
                         joint.params)
  assert np.all(np.isfinite(updates['encoder']['w']))


def test_the_export_ships_whichever_of_theta_and_its_average_codes_the_held_out_photos_better(
    bikes_frames):
  shipped = zoo.load_global_model('msh-n64-beta128')
  rng = np.random.default_rng(0)
  worse = jax.tree_util.tree_map(lambda p: p + 0.02 * rng.standard_normal(p.shape), shipped.params)
  photos = bikes_frames[:, :128, :128]
  chosen, rd = load_script('export_model').heldout_choice(
      shipped.arch, {'raw': worse, 'ema': shipped.params}, photos, shipped.manifest)
  assert chosen == 'ema' and rd['ema']['L_rdm_coded'] < rd['raw']['L_rdm_coded']
