"""Claims about instance adaptation: the prior, δ̂ coding, the loss, and every mode's step."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from conftest import ROOT, run_python
from rdm import container, finetune, model, model_prior, model_update, stream, zoo
from rdm.container import FormatError

PRIOR = model_prior.SpikeSlab(t=0.005, alpha=1000.0, sigma_slab=0.05)


def test_bin_masses_sum_to_one():
  delta_hat = jnp.arange(-2000, 2001) * PRIOR.t  # ±10 σ_slab: all the mass
  np.testing.assert_allclose(float(jnp.sum(model_prior.bin_mass(PRIOR, delta_hat))), 1.0,
                             atol=1e-4)
  np.testing.assert_allclose(model_prior.bin_pmf(PRIOR).sum(), 1.0, atol=1e-6)


def test_a_zero_update_costs_what_the_formula_says():
  t, alpha, s = PRIOR.t, PRIOR.alpha, PRIOR.sigma_slab
  slab = special.ndtr(t / 2 / s) - special.ndtr(-t / 2 / s)
  spike = special.ndtr(3.0) - special.ndtr(-3.0)  # half a bin is 3 σ_spike
  expected = -np.log2((slab + alpha * spike) / (1 + alpha))
  got = float(model_prior.update_bits(PRIOR, {'w': jnp.zeros(1000)})) / 1000
  np.testing.assert_allclose(got, expected, rtol=1e-3)
  assert 0.004 < got < 0.006  # "nearly free": ~0.005 bits per unchanged parameter


def test_update_quantizer_is_straight_through():
  delta = jnp.array([0.0012, -0.0031, 0.02])
  q = model_update.quantize({'d': delta}, 0.005)['d']
  np.testing.assert_allclose(q, [0.0, -0.005, 0.02], atol=1e-9)
  grad = jax.grad(lambda d: jnp.sum(model_update.quantize({'d': d}, 0.005)['d'] * 3.0))(delta)
  np.testing.assert_allclose(grad, 3.0)


def test_model_rate_falls_as_the_update_becomes_sparser():
  rng = np.random.default_rng(0)
  dense = rng.normal(0, 0.02, 10000)
  costs = []
  for keep in (1.0, 0.5, 0.1, 0.0):
    d = np.where(rng.uniform(size=dense.size) < keep, dense, 0.0)
    d_hat = PRIOR.t * np.round(d / PRIOR.t)
    costs.append(float(model_prior.update_bits(PRIOR, {'d': jnp.asarray(d_hat)})))
  assert costs == sorted(costs, reverse=True) and costs[-1] < 0.01 * costs[0]


def test_update_round_trips_bit_exactly_through_the_coder(tiny_arch):
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  delta = model_update.init_delta(params, 'g_s,h_s,prior_z')
  rng = np.random.default_rng(0)
  k = np.where(rng.uniform(size=sum(d.size for d in delta.values())) < 0.05,
               rng.integers(-40, 41, sum(d.size for d in delta.values())), 0)
  k[:3] = [5000, -5000, 3]  # escapes
  names = sorted(delta)
  delta_hat = model_update.integers_to_delta(k, params, names, PRIOR.t)
  coded = model_update.encode_update(delta_hat, PRIOR)
  decoded = model_update.decode_update(coded, params, names, PRIOR)
  for n in names:
    np.testing.assert_array_equal(decoded[n], delta_hat[n])


def test_unchanged_leaves_cost_one_flag_bit_and_bad_flags_are_refused(tiny_arch):
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  delta = {n: np.asarray(d) for n, d in model_update.init_delta(params, 'g_s,h_s,prior_z').items()}
  names = sorted(delta)
  one = names[len(names) // 2]
  delta[one] = delta[one].copy()
  delta[one].reshape(-1)[:2] = [PRIOR.t, -3 * PRIOR.t]
  flags, k = model_update.coded_integers(delta, PRIOR.t)
  assert len(flags) == (len(names) + 7) // 8 and k.size == delta[one].size
  only_one = model_update.update_bits({one: delta[one]}, PRIOR) - 8
  assert model_update.update_bits(delta, PRIOR) == pytest.approx(8 * len(flags) + only_one)
  coded = model_update.encode_update(delta, PRIOR)
  decoded = model_update.decode_update(coded, params, names, PRIOR)
  assert all(np.array_equal(decoded[n], delta[n]) for n in names)
  assert len(names) % 8, 'the last flag byte needs a spare bit for this check'
  with pytest.raises(ValueError, match='does not exist'):  # a flag beyond the last leaf
    model_update.decode_update(coded[:len(flags) - 1] + bytes([coded[len(flags) - 1] | 1])
                               + coded[len(flags):], params, names, PRIOR)
  with pytest.raises(ValueError, match='leaf flags'):
    model_update.decode_update(b'', params, names, PRIOR)


def test_delta_may_not_cover_encoder_parameters(tiny_arch):
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match='receiver-side'):
    model_update.init_delta(params, 'g_s,g_a')
  with pytest.raises(ValueError, match='matches no parameter'):
    model_update.init_delta(params, 'nothing_here')


@pytest.mark.parametrize('bad', [{'t': 0.0}, {'t': -1.0}, {'sigma_slab': 0.0}, {'alpha': -1.0},
                                 {'t': float('nan')}, {'sigma_slab': float('inf')},
                                 {'t': 1e-30}])
def test_impossible_prior_values_are_refused(bad):
  with pytest.raises(ValueError):
    model_prior.SpikeSlab(**{'t': 0.005, 'alpha': 1000.0, 'sigma_slab': 0.05, **bad})


def tiny_config(mode, **adapt):
  from configs import base
  c = base.get_config()
  c.model.N, c.model.M = 8, 8
  c.global_model = 'tiny-a'
  c.adapt.mode = mode
  c.adapt.steps = 2
  c.adapt.batch_size = 2
  c.adapt.crop = 64
  c.adapt.log_every = 1
  c.adapt.warmup_steps = 0
  c.adapt.update(adapt)
  return c


@pytest.mark.parametrize('mode', finetune.MODES)
def test_one_finetuning_step_in_each_mode_gives_a_decodable_stream(
    mode, use_tiny_models, bikes_frames, tmp_path):
  from rdm import job
  frames = bikes_frames[:, :96, :128]
  encoded, adapted = job.adapt_and_encode(tiny_config(mode), frames, tmp_path)
  np.testing.assert_array_equal(stream.decode(encoded.data), encoded.x_hat)
  if mode == 'full':
    assert encoded.sizes['update'] > 0 and adapted.history
    assert np.isfinite(adapted.history[-1]['train_bpp_model'])
  else:
    assert encoded.sizes['update'] == 0


def test_a_workdir_resumes_only_the_run_it_was_made_for(use_tiny_models, bikes_frames, tmp_path):
  from rdm import job
  frames = bikes_frames[:2, :96, :128]
  job.adapt_and_encode(tiny_config('full'), frames, tmp_path)
  job.adapt_and_encode(tiny_config('full', steps=3), frames, tmp_path)  # continuing is fine
  other_beta = tiny_config('full', steps=3)
  other_beta.loss.beta = 64.0
  for config, video in ((other_beta, frames), (tiny_config('full', steps=3), frames[:, :, ::-1]),
                        (tiny_config('full', steps=3, t=0.01), frames)):
    with pytest.raises(ValueError, match='another run'):
      job.adapt_and_encode(config, video, tmp_path)


@pytest.mark.parametrize('ablation', [{'model_rate': False}, {'quantize_aware': False}])
def test_ablations_run_and_still_code_the_quantized_update(
    ablation, use_tiny_models, bikes_frames, tmp_path):
  from rdm import job
  encoded, _ = job.adapt_and_encode(tiny_config('full', **ablation), bikes_frames[:, :96, :128],
                                    tmp_path)
  np.testing.assert_array_equal(stream.decode(encoded.data), encoded.x_hat)


def test_full_finetuning_reduces_the_rdm_loss(use_tiny_models, bikes_frames, tmp_path):
  from rdm import job
  config = tiny_config('full', steps=30, lr=3e-3, crop=0, batch_size=2)
  _, adapted = job.adapt_and_encode(config, bikes_frames[:, :64, :64], tmp_path)
  losses = [h['train_loss'] for h in adapted.history]
  assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_an_update_for_another_global_model_is_refused(use_tiny_models, bikes_frames, tmp_path):
  from rdm import job
  encoded, _ = job.adapt_and_encode(tiny_config('full'), bikes_frames[:1, :64, :64], tmp_path)
  s = container.read(encoded.data)
  forged = container.write(container.Stream(zoo.manifest('tiny-b')['sha256'], s.frames,
                                            s.update, s.z, s.y))
  with pytest.raises(FormatError):
    stream.decode(forged)


@pytest.mark.parametrize('t,alpha,sigma_slab', [(1e-30, 1000.0, 0.05), (0.005, 1000.0, 3e38),
                                                (float('nan'), 1.0, 0.05)])
def test_an_update_section_with_impossible_prior_fails_fast(tiny_arch, t, alpha, sigma_slab):
  """Found by the fuzzer: a tiny t made the receiver build a table of 10^29 bins."""
  import struct
  import time
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  payload = struct.pack('<fffH', t, alpha, sigma_slab, 3) + b'g_s' + b'\x00' * 16
  start = time.time()
  with pytest.raises(FormatError, match='model update'):
    stream.unpack_update(payload, params)
  assert time.time() - start < 1.0


def test_the_rdm_is_byte_identical_on_one_and_on_two_devices(use_tiny_models):
  """A batch of 3 on 2 devices is padded with a weight-0 example: the step, δ̂ and the stream
  must still be exactly those of one device."""
  outputs = {}
  for devices in (1, 2, 1):
    result = run_python(['tests/adapt_on_devices.py'], env={
        'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}',
        'PYTHONPATH': str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    _, count, _, moved, _, sha = result.stdout.split()[-6:]
    assert int(count) == devices and int(moved) > 0
    outputs.setdefault(devices, set()).add(sha)
  assert outputs[1] == outputs[2] and len(outputs[1]) == 1


def tiny_job_args(workdir, steps):
  return ['-m', 'rdm.main', '--config=configs/xiph_beta.py', f'--workdir={workdir}',
          '--config.model.N=8', '--config.model.M=8', '--config.global_model=tiny-a',
          '--config.data.video=carphone', '--config.data.max_frames=2',
          f'--config.adapt.steps={steps}', '--config.adapt.checkpoint_every=10',
          '--config.adapt.crop=64', '--config.adapt.lr=3e-3', '--config.adapt.t=0.01',
          '--config.adapt.log_every=5', '--config.adapt.warmup_steps=0']


def test_a_killed_finetuning_run_resumes_and_writes_the_uninterrupted_runs_stream(
    use_tiny_models, tmp_path):
  import signal
  import subprocess
  import sys
  import time
  steps = 200
  killed, clean = tmp_path / 'killed', tmp_path / 'clean'
  proc = subprocess.Popen([sys.executable, *tiny_job_args(killed, steps)], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not list(killed.glob('full-*/checkpoints/20')):
    assert proc.poll() is None, 'the run ended before it could be killed'
    assert time.time() < deadline
    time.sleep(0.1)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not list(killed.glob('*.rdm'))
  for workdir in (killed, clean):
    result = run_python(tiny_job_args(workdir, steps))
    assert result.returncode == 0, result.stderr[-3000:]
  resumed = [json.loads(l)['step'] for l in
             next(killed.glob('full-*/metrics.jsonl')).read_text().splitlines()]
  # Step 5 was logged before the kill; a run that started over would log it again.
  assert resumed.count(5) == 1 and resumed.count(steps) == 1
  (a,), (b,) = killed.glob('*.rdm'), clean.glob('*.rdm')
  assert a.read_bytes() == b.read_bytes()
