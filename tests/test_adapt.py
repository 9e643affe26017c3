"""Claims about instance adaptation: the prior, δ̂ coding, the loss, and every mode's step."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from conftest import ROOT, run_python
from configs import base
from rdm import (batching, configuration, container, finetune, model, model_prior, model_update,
                 pipeline, stream, zoo)
from rdm.container import FormatError
from rdm.candidate import Candidate

PRIOR = model_prior.SpikeSlab(t=0.005, alpha=1000.0, sigma_slab=0.05)
PAPER = model_prior.LeafPriors((PRIOR,))  # the paper's one prior for every leaf
# and with two denser priors a leaf may choose instead (index: 2 bits per opened leaf)
CHOICE = model_prior.LeafPriors.from_config(PRIOR.t, PRIOR.alpha, PRIOR.sigma_slab,
                                           ((10, 0.005), (1, 0.005)))
RECEIVER = ('g_s', 'h_s', 'prior_z')  # every receiver-side group


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


def random_update(params, groups: tuple[str, ...], rng, density: float, leaves=None,
                  priors=PAPER) -> model_update.ModelUpdate:
  """A sparse δ̂ over the selected leaves (all, or the first `leaves`), with a few escapes."""
  delta = {n: np.asarray(d) for n, d in model_update.init_delta(params, groups).items()}
  chosen = sorted(delta)[:leaves]
  for n in chosen:
    k = np.where(rng.uniform(size=delta[n].shape) < density,
                 rng.integers(-12, 13, delta[n].shape), 0)
    delta[n] = (k * PRIOR.t).astype(np.float32)
  k0 = delta[chosen[0]].reshape(-1)
  k0[:2] = [300 * PRIOR.t, -5000 * PRIOR.t]  # beyond the table: escapes
  return model_update.ModelUpdate.from_delta(delta, priors, groups)


def coded_entries(update: model_update.ModelUpdate) -> int:
  return sum(k.size for k, _ in update.written_priors()[1])


def test_update_round_trips_bit_exactly_through_the_coder(tiny_arch):
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  update = random_update(params, RECEIVER, np.random.default_rng(0), 0.05)
  decoded = model_update.ModelUpdate.from_bytes(update.to_bytes(), params)
  assert decoded.names == update.names and decoded.groups == update.groups
  for a, b in zip(decoded.k, update.k):
    np.testing.assert_array_equal(a, b)
  for n, d in decoded.delta_hat().items():
    np.testing.assert_array_equal(d, update.delta_hat()[n])


@pytest.fixture(scope='module')
def shipped_size_params():
  """Random θ of the shipped N=64/M=96 shape: updates of realistic size."""
  return model.init_params(model.Architecture(64, 96), jax.random.PRNGKey(1))


@pytest.mark.parametrize('priors', [PAPER, CHOICE], ids=['paper', 'choice'])
@pytest.mark.parametrize('density,leaves', [(1e-4, None), (0.002, 3), (0.05, None), (0.001, 2)])
def test_the_loss_prices_an_update_at_the_bits_the_coder_writes(shipped_size_params, density,
                                                                leaves, priors):
  """M in the loss (model_update.coded_bits, in JAX) against the real payload of random sparse
  δ̂ with escapes: within 1 %, and within the coder's flush (16 ± 16 bits) and a spread of its
  per-symbol cost (modelled at 1.2e-4 bits an entry, ±1e-5)."""
  update = random_update(shipped_size_params, RECEIVER,
                         np.random.default_rng(int(density * 1e4)), density, leaves, priors)
  real = 8 * len(update.to_bytes())
  in_loss = float(model_update.coded_bits(priors, update.groups, update.delta_hat()))
  assert in_loss == pytest.approx(real, rel=0.01)
  assert abs(update.ideal_bits() - real) <= 16 + 1e-5 * coded_entries(update)
  assert in_loss == pytest.approx(update.ideal_bits(), rel=1e-3)  # float32 sums in the loss


def test_a_zero_update_is_not_sent_and_costs_nothing(tiny_arch):
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  update = model_update.ModelUpdate.from_delta(model_update.init_delta(params, ('g_s',)), CHOICE,
                                               ('g_s',))
  assert update.is_zero and update.to_bytes() == b'' and update.ideal_bits() == 0
  assert float(model_update.coded_bits(CHOICE, ('g_s',), update.delta_hat())) == 0.0


def test_unchanged_leaves_cost_one_flag_bit_and_bad_flags_are_refused(tiny_arch):
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  delta = {n: np.asarray(d) for n, d in model_update.init_delta(params, RECEIVER).items()}
  names = sorted(delta)
  one = names[len(names) // 2]
  delta[one] = delta[one].copy()
  delta[one].reshape(-1)[:2] = [PRIOR.t, -3 * PRIOR.t]
  update = model_update.ModelUpdate.from_delta(delta, PAPER, RECEIVER)
  alone = model_update.ModelUpdate.from_delta({one: delta[one]}, PAPER, RECEIVER)
  flag_bytes = (len(names) + 7) // 8
  assert coded_entries(update) == delta[one].size
  # Each further leaf costs its flag bit only; the flags are packed into whole bytes.
  assert update.ideal_bits() - alone.ideal_bits() == 8 * (flag_bytes - 1)
  payload = update.to_bytes()
  decoded = model_update.ModelUpdate.from_bytes(payload, params)
  assert all(np.array_equal(a, b) for a, b in zip(decoded.k, update.k))
  assert len(names) % 8, 'the last flag byte needs a spare bit for this check'
  flags_end = (model_update.UPDATE_HEAD.size + model_update.PRIOR_PARAMS.size
               + model_update.PATTERNS_LENGTH.size + len(b'g_s,h_s,prior_z') + flag_bytes)
  forged = payload[:flags_end - 1] + bytes([payload[flags_end - 1] | 1]) + payload[flags_end:]
  with pytest.raises(ValueError, match='does not exist'):  # a flag beyond the last leaf
    model_update.ModelUpdate.from_bytes(forged, params)
  with pytest.raises(ValueError, match='leaf flags'):
    model_update.ModelUpdate.from_bytes(payload[:flags_end - 1], params)


def test_delta_may_not_cover_encoder_parameters(tiny_arch):
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match='receiver-side'):
    model_update.init_delta(params, ('g_s', 'g_a'))
  with pytest.raises(ValueError, match='matches no parameter'):
    model_update.init_delta(params, ('nothing_here',))
  with pytest.raises(ValueError, match='prefixes'):  # a string is not a tuple of them
    model_update.init_delta(params, 'g_s')


@pytest.mark.parametrize('bad', [{'t': 0.0}, {'t': -1.0}, {'sigma_slab': 0.0}, {'alpha': -1.0},
                                 {'t': float('nan')}, {'sigma_slab': float('inf')},
                                 {'t': 1e-30}])
def test_impossible_prior_values_are_refused(bad):
  with pytest.raises(ValueError):
    model_prior.SpikeSlab(**{'t': 0.005, 'alpha': 1000.0, 'sigma_slab': 0.05, **bad})


def tiny_config(mode, **adapt):
  c = base.adapting()
  c.model.N, c.model.M = 8, 8
  c.global_model = 'tiny-a'
  # One example a step: the ordered step unrolls its per-example gradients, so XLA compiles a
  # batch of 2 for ~1.6× as long (the suite's time is mostly compilation).
  c.adapt.update(mode=mode, steps=1, joint_steps=1, batch_size=1, log_every=1, warmup_steps=0,
                 candidates=1)
  c.adapt.update(adapt)
  return c


# Large enough rates that one step moves δ across a bin edge of the tiny model.
MOVING = {'lr': 3e-3, 'delta_lr': 3e-2, 't': 0.01}


@pytest.mark.parametrize('mode', finetune.MODES)
def test_one_finetuning_step_in_each_mode_gives_a_decodable_stream(
    mode, use_tiny_models, bikes_frames, tmp_path):
  frames = bikes_frames[:, :96, :128]
  result = pipeline.encode_video(tiny_config(mode, select=False, **MOVING), frames, tmp_path)
  np.testing.assert_array_equal(stream.decode(result.encoded.data), result.encoded.x_hat)
  steps = [(h['phase'], h['step']) for h in result.history]
  if mode == 'full':
    assert steps == [('encoder', 1), ('joint', 1)]
    assert result.encoded.sizes['update'] > 0 and result.summary['label'] == 'joint@1'
    assert np.isfinite(result.history[-1]['train_bpp_model'])
  else:
    assert result.encoded.sizes['update'] == 0
    assert steps == {'none': [], 'encoder': [('encoder', 1)],
                     'latents': [('latents', 1)] * len(frames)}[mode]


def test_a_workdir_resumes_only_the_run_it_was_made_for(use_tiny_models, bikes_frames, tmp_path):
  frames = bikes_frames[:2, :96, :128]
  pipeline.encode_video(tiny_config('full'), frames, tmp_path)
  pipeline.encode_video(tiny_config('full', joint_steps=3), frames, tmp_path)  # continuing is fine
  other_beta = tiny_config('full', joint_steps=3)
  other_beta.loss.beta = 64.0
  for config, video, phase in (
      (other_beta, frames, 'encoder'), (tiny_config('full'), frames[:, :, ::-1], 'encoder'),
      (tiny_config('full', t=0.01), frames, 'joint')):
    with pytest.raises(ValueError, match=f'{tmp_path / phase} holds .* another run'):
      pipeline.encode_video(config, video, tmp_path)


def test_the_joint_phase_trains_the_encoder_at_its_own_rate(use_tiny_models, bikes_frames,
                                                            tmp_path):
  frames = bikes_frames[:2, :64, :64]
  theta = zoo.load_global_model('tiny-a')

  def encoder_change(name, **adapt):
    """max |Δ| of g_a over the joint phase."""
    config = tiny_config('full', steps=1, joint_steps=2, **MOVING, **adapt)
    candidates = finetune.adapt(config, theta.arch, theta.params, frames, tmp_path / name).candidates
    start, end = (c.params['g_a'] for c in candidates if c.label in ('encoder@1', 'joint@2'))
    return max(float(np.max(np.abs(a - b))) for a, b in zip(
        jax.tree_util.tree_leaves(start), jax.tree_util.tree_leaves(end)))

  assert encoder_change('default') > 1e-5  # adapt.lr = 3e-3
  assert encoder_change('held', joint_encoder_lr=1e-12) < 1e-9


def test_encoder_only_and_full_runs_share_the_encoder_phase_and_its_coded_candidates(
    use_tiny_models, bikes_frames, tmp_path, monkeypatch):
  frames = bikes_frames[:2, :96, :128]
  shared = tmp_path / 'encoder'
  encoder = pipeline.encode_video(tiny_config('encoder', steps=2), frames, tmp_path / 'e', None,
                                  shared)
  coded = []
  encode_frames = stream.encode_frames
  monkeypatch.setattr(stream, 'encode_frames', lambda *a, **k: coded.append(1) or
                      encode_frames(*a, **k))
  full = pipeline.encode_video(tiny_config('full', steps=2), frames, tmp_path / 'f', None, shared)
  assert [(h['phase'], h['step']) for h in full.history] == [('joint', 1)]  # encoder resumed
  joint = [c for c in full.candidates if c['phase'] == 'joint']
  written_by_encoder = full.summary['phase'] == 'encoder'
  assert len(coded) == len(joint) + written_by_encoder  # the encoder phase's were kept
  assert full.candidates[:len(encoder.candidates)] == encoder.candidates
  np.testing.assert_array_equal(stream.decode(full.encoded.data), full.encoded.x_hat)
  assert pipeline.summarize(frames, full.encoded, 64.0)['bytes'] == full.summary['bytes']


@pytest.mark.parametrize('ablation', [{'model_rate': False}, {'quantize_aware': False},
                                      {'rate_gradient': 'bins'}, {'rate_gradient': 'noise'},
                                      {'rate_mode': 'ste'}, {'crop': 64, 'flip': True}])
def test_ablations_and_options_run_and_code_the_quantized_update(
    ablation, use_tiny_models, bikes_frames, tmp_path):
  config = tiny_config('full', select=False, **{**MOVING, **ablation})
  result = pipeline.encode_video(config, bikes_frames[:, :96, :128], tmp_path)
  assert result.encoded.sizes['update'] > 0
  np.testing.assert_array_equal(stream.decode(result.encoded.data), result.encoded.x_hat)


def rate_gradient_of(rate_gradient: str, delta, priors=PAPER):
  return jax.grad(lambda d: model_update.model_bits(priors, ('w',), d, model_update.quantize(
      d, PRIOR.t), rate_gradient, jax.random.PRNGKey(0)))(delta)


def test_each_rate_gradient_is_its_surrogates_alone():
  """The bug this replaces: 'density' returned the bins' gradient plus the density's."""
  delta = jnp.array([0.0004, -0.0011, 0.0062, 0.013])
  bins = jax.grad(lambda d: model_prior.update_bits(PRIOR, {'w': model_update.quantize(
      {'w': d}, PRIOR.t)['w']}))(delta)
  density = jax.grad(lambda d: model_prior.density_bits(PRIOR, {'w': d}))(delta)
  np.testing.assert_allclose(rate_gradient_of('bins', {'w': delta})['w'], bins, rtol=1e-5)
  np.testing.assert_allclose(rate_gradient_of('density', {'w': delta})['w'], density, rtol=1e-5)
  assert bins[0] == 0 and density[0] > 0  # inside the zero bin only the density pulls to 0
  noise = rate_gradient_of('noise', {'w': delta})['w']
  assert np.all(np.isfinite(noise)) and noise[0] != 0 and not np.allclose(noise, bins)
  # Whatever the gradient, the value is what the coder writes for round(δ/t)·t.
  value = model_update.model_bits(PAPER, ('w',), {'w': delta}, {'w': delta}, 'noise',
                              jax.random.PRNGKey(0))
  assert float(value) == pytest.approx(float(model_update.coded_bits(
      PAPER, ('w',), model_update.quantize({'w': delta}, PRIOR.t))))


def test_each_leafs_rate_gradient_follows_the_prior_it_is_coded_under():
  """With a choice of priors, a densely changed leaf is priced (value and gradient) under the
  dense prior it is coded under, a sparse one under the paper's prior, in one expression."""
  rng = np.random.default_rng(0)
  dense = jnp.asarray(PRIOR.t * rng.choice([-1.0, 0.0, 1.0], 2000, p=[0.2, 0.6, 0.2])
                      + rng.uniform(-0.002, 0.002, 2000), jnp.float32)
  sparse = jnp.zeros(500).at[:3].set(PRIOR.t * jnp.array([1.2, -0.9, 2.1]))
  delta = {'a': dense, 'b': sparse}
  choice = [model_update.cheapest_prior(CHOICE, np.rint(np.asarray(d) / PRIOR.t).astype(int))
            for d in (dense, sparse)]
  assert choice[0] > 0 and choice[1] == 0
  for gradient in ('bins', 'density'):
    got = rate_gradient_of(gradient, delta, CHOICE)
    for name, index in zip('ab', choice):
      alone = model_prior.LeafPriors((CHOICE.priors[index],))
      want = rate_gradient_of(gradient, {name: delta[name]}, alone)[name]
      np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-7)
  paper, chosen = (float(model_update.coded_bits(p, ('w',), model_update.quantize(delta, PRIOR.t)))
                   for p in (PAPER, CHOICE))
  assert chosen < 0.5 * paper


def test_leaves_coded_under_denser_priors_round_trip_and_bad_indexes_are_refused(tiny_arch):
  """A dense, a sparse and a moderately changed kernel are each coded under their own prior; the
  section carries the priors used and a 2-bit index per opened leaf."""
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  delta = {n: np.asarray(d) for n, d in model_update.init_delta(params, ('g_s',)).items()}
  names = sorted(delta)
  rng = np.random.default_rng(1)
  dense, sparse, some = (f'g_s/ConvTranspose_{i}/kernel' for i in range(3))
  delta[dense] = (PRIOR.t * rng.choice([-1, 0, 1], delta[dense].shape)).astype(np.float32)
  delta[sparse] = delta[sparse].copy()
  delta[sparse].reshape(-1)[0] = 2 * PRIOR.t
  delta[some] = (PRIOR.t * rng.choice([-1, 0, 1], delta[some].shape, p=[0.05, 0.9, 0.05])
                 ).astype(np.float32)
  update = model_update.ModelUpdate.from_delta(delta, CHOICE, ('g_s',))
  written, leaves = update.written_priors()
  assert written == CHOICE and [i for _, i in leaves] == [2, 0, 1]  # α = 1, 1000, 10
  payload = update.to_bytes()
  paper = model_update.ModelUpdate.from_delta(delta, PAPER, ('g_s',)).to_bytes()
  assert len(payload) < 0.6 * len(paper)
  decoded = model_update.ModelUpdate.from_bytes(payload, params)
  assert decoded.priors == CHOICE
  assert all(np.array_equal(a, b) for a, b in zip(decoded.k, update.k))
  indexes_at = (model_update.UPDATE_HEAD.size + 3 * model_update.PRIOR_PARAMS.size
                + model_update.PATTERNS_LENGTH.size + len(b'g_s') + (len(names) + 7) // 8)
  assert payload[indexes_at] == 0b1000_0100  # 2 bits each: 10, 00, 01
  forged = payload[:indexes_at] + bytes([0b1100_0100]) + payload[indexes_at + 1:]
  with pytest.raises(ValueError, match='prior 3 of 3'):
    model_update.ModelUpdate.from_bytes(forged, params)
  with pytest.raises(ValueError, match='prior indexes'):
    model_update.ModelUpdate.from_bytes(payload[:indexes_at], params)
  with pytest.raises(ValueError, match='leaf priors'):
    model_update.ModelUpdate.from_bytes(payload[:model_update.UPDATE_HEAD.size + 4], params)
  no_prior = bytes([*payload[:4], 0]) + payload[model_update.UPDATE_HEAD.size:]
  with pytest.raises(ValueError, match='1 to 16 leaf priors'):
    model_update.ModelUpdate.from_bytes(no_prior, params)
  with pytest.raises(ValueError, match='alpha, sigma_slab'):
    model_prior.LeafPriors.from_config(0.005, 1000.0, 0.05, ((10,),))


def test_an_update_that_needs_only_the_paper_prior_is_coded_as_with_that_prior_alone(tiny_arch):
  """The further priors cost nothing where no leaf uses them: same bytes, same M."""
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  update = random_update(params, ('g_s', 'h_s'), np.random.default_rng(3), 0.001, priors=CHOICE)
  assert update.written_priors()[0] == PAPER
  alone = model_update.ModelUpdate(PAPER, update.groups, update.names, update.k)
  assert update.to_bytes() == alone.to_bytes()
  assert float(model_update.coded_bits(CHOICE, update.groups, update.delta_hat())) == (
      pytest.approx(float(model_update.coded_bits(PAPER, update.groups, update.delta_hat()))))


def test_full_finetuning_reduces_the_rdm_loss(use_tiny_models, bikes_frames, tmp_path):
  config = tiny_config('full', steps=1, joint_steps=30, lr=3e-3)
  result = pipeline.encode_video(config, bikes_frames[:, :64, :64], tmp_path)
  losses = [h['train_loss'] for h in result.history if h['phase'] == 'joint']
  assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_whole_frame_batches_visit_every_frame_equally_often_and_resume():
  frames = np.arange(5)[:, None, None, None] * np.ones((5, 2, 2, 3), np.uint8)
  seen = [b[:, 0, 0, 0] for b, _ in zip(batching.epoch_batches(frames, 2, 7), range(10))]
  assert np.bincount(np.concatenate(seen).astype(int)).tolist() == [4] * 5
  resumed = [b[:, 0, 0, 0] for b, _ in zip(batching.epoch_batches(frames, 2, 7, 6), range(4))]
  np.testing.assert_array_equal(np.concatenate(resumed), np.concatenate(seen[6:]))


def test_tiles_cover_every_coded_pixel_equally_often_and_resume():
  """crop > 0: tiles of the frames padded as the coder pads them; over whole epochs each coded
  pixel is seen as often as every other (where the tile side divides the padded size)."""
  cfg = configuration.with_fields(base.adapting(), {'adapt.crop': 64, 'adapt.batch_size': 3}).adapt
  frames = np.random.default_rng(0).integers(0, 256, (2, 100, 130, 3)).astype(np.uint8)
  padded = np.asarray(model.pad_to_multiple(frames))  # 128 × 192: 2 × 3 tiles a frame
  # 12 tiles, 3 a batch: epochs of 4 batches; each tile is identified by its pixels
  seen = [b for b, _ in zip(finetune.frame_batches(frames, cfg, 7, 0), range(8))]
  counts = np.zeros(padded.shape[:3])
  for tile in np.concatenate(seen):
    matches = [(t, y, x) for t in range(2) for y in (0, 64) for x in (0, 64, 128)
               if np.array_equal(padded[t, y:y + 64, x:x + 64], tile)]
    assert len(matches) == 1
    t, y, x = matches[0]
    counts[t, y:y + 64, x:x + 64] += 1
  assert (counts == 2).all()
  resumed = [b for b, _ in zip(finetune.frame_batches(frames, cfg, 7, 5), range(3))]
  np.testing.assert_array_equal(np.concatenate(resumed), np.concatenate(seen[5:]))


def test_tiles_overlap_only_where_the_side_does_not_divide_the_frame():
  assert batching.tile_origins(192, 64).tolist() == [0, 64, 128]
  assert batching.tile_origins(100, 64).tolist() == [0, 36]
  assert batching.tile_origins(50, 64).tolist() == [0]
  frames = np.zeros((1, 100, 50, 3), np.uint8)
  assert batching.tiles(frames, 64).shape == (2, 64, 50, 3)


def test_flipped_tiles_are_the_same_tiles_mirrored_and_repeat_on_resume():
  frames = np.random.default_rng(1).integers(0, 256, (1, 64, 128, 3)).astype(np.uint8)
  plain = np.concatenate([b for b, _ in zip(batching.tile_batches(frames, 2, 64, 3), range(4))])
  flipped = np.concatenate([b for b, _ in zip(
      batching.tile_batches(frames, 2, 64, 3, flip=True), range(4))])
  mirrored = [not np.array_equal(p, f) for p, f in zip(plain, flipped)]
  assert any(mirrored) and not all(mirrored)
  for p, f, m in zip(plain, flipped, mirrored):
    np.testing.assert_array_equal(f, p[:, ::-1] if m else p)
  again = next(batching.tile_batches(frames, 2, 64, 3, start_step=3, flip=True))
  np.testing.assert_array_equal(again, flipped[6:8])


def test_full_never_ends_worse_than_encoder_only_in_coded_rdm_loss(use_tiny_models, bikes_frames,
                                                                  tmp_path):
  """The stream is the lowest coded L_RDM among candidates, and full adaptation's include every
  candidate of encoder-only finetuning: so even a joint phase that goes wrong (here: δ trained
  without M at a β where its update costs far more than it gains) cannot make full worse than
  encoder-only, nor either worse than θ_D."""
  frames = bikes_frames[:2, :64, :128]
  settings = dict(steps=4, joint_steps=4, candidates=2, lr=1e-3, delta_lr=0.05, t=0.01,
                  model_rate=False)
  encoder_config, full_config = (tiny_config(mode, **settings) for mode in ('encoder', 'full'))
  encoder_config.loss.beta = full_config.loss.beta = 1e4
  encoder = pipeline.encode_video(encoder_config, frames, tmp_path / 'e')
  full = pipeline.encode_video(full_config, frames, tmp_path / 'f')
  losses = {c['label']: c['L_rdm_coded'] for c in full.candidates}
  assert full.summary['L_rdm_coded'] == min(losses.values())
  assert full.summary['L_rdm_coded'] <= encoder.summary['L_rdm_coded'] <= losses['encoder@0']
  assert [c['L_rdm_coded'] for c in encoder.candidates] == [losses[c['label']] for c in
                                                            encoder.candidates]
  assert losses['joint@4'] > full.summary['L_rdm_coded'], (
      'the test needs a joint phase whose last iterate is not the best')


def test_an_update_for_another_global_model_is_refused(use_tiny_models, bikes_frames, tmp_path):
  result = pipeline.encode_video(tiny_config('full', select=False, **MOVING),
                                 bikes_frames[:1, :64, :64], tmp_path)
  s = container.read(result.encoded.data)
  forged = container.write(container.Stream(zoo.manifest('tiny-b')['sha256'], s.frames,
                                            s.update, s.z, s.y))
  with pytest.raises(FormatError):
    stream.decode(forged)


@pytest.mark.parametrize('t,alpha,sigma_slab', [(1e-30, 1000.0, 0.05), (0.005, 1000.0, 3e38),
                                                (float('nan'), 1.0, 0.05)])
@pytest.mark.timeout(60)
def test_an_update_section_with_impossible_prior_fails_fast(tiny_arch, t, alpha, sigma_slab):
  """Found by the fuzzer: a tiny t made the receiver build a table of 10^29 bins."""
  import struct
  import time
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  payload = struct.pack('<fBffH', t, 1, alpha, sigma_slab, 3) + b'g_s' + b'\x00' * 16
  start = time.time()
  with pytest.raises(FormatError, match=r'model update section is invalid: .*adapt\.'):
    stream.unpack_update(payload, params)
  assert time.time() - start < 1.0


def tiny_job_args(workdir, steps):
  return ['-m', 'rdm.main', '--config=configs/xiph_beta.py', f'--workdir={workdir}',
          '--config.model.N=8', '--config.model.M=8', '--config.global_model=tiny-a',
          '--config.data.video=carphone', '--config.data.max_frames=2',
          '--config.adapt.steps=3', f'--config.adapt.joint_steps={steps}',
          '--config.adapt.checkpoint_every=10', '--config.adapt.crop=64',
          '--config.adapt.lr=3e-3', '--config.adapt.t=0.01', '--config.adapt.log_every=5',
          '--config.adapt.warmup_steps=0', '--config.adapt.candidates=2',
          '--config.adapt.batch_size=1']


def test_a_killed_finetuning_run_resumes_and_writes_the_uninterrupted_runs_stream(
    use_tiny_models, tmp_path):
  import signal
  import subprocess
  import sys
  import time
  steps = 60
  killed, clean = tmp_path / 'killed', tmp_path / 'clean'
  proc = subprocess.Popen([sys.executable, *tiny_job_args(killed, steps)], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not list(killed.glob('full-*/joint/checkpoints/20')):
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
             next(killed.glob('full-*/joint/metrics.jsonl')).read_text().splitlines()]
  # Step 5 was logged before the kill; a run that started over would log it again.
  assert resumed.count(5) == 1 and resumed.count(steps) == 1
  (a,), (b,) = killed.glob('*.rdm'), clean.glob('*.rdm')
  assert a.read_bytes() == b.read_bytes()


def test_the_encoder_drops_a_leaf_opened_for_one_entry_and_keeps_one_that_pays(
    bikes_frames, tmp_path, monkeypatch):
  """An update of two leaves on a θ_D whose last synthesis layer was damaged: δ̂ of that kernel
  undoes the damage (worth far more than its bits); one entry of h_s's largest kernel changes
  nothing but opens 345,600 entries to the coding table's floor. The written stream drops the
  second leaf, keeps the first, and decodes bit-exactly."""
  from rdm import prune
  shipped = zoo.load_global_model('msh-n64-beta128')
  damage = np.random.default_rng(0).integers(-4, 5, (5, 5, 64, 3)).astype(np.int32)
  params = jax.tree_util.tree_map(np.asarray, shipped.params)
  params['g_s']['ConvTranspose_3']['kernel'] = (
      params['g_s']['ConvTranspose_3']['kernel'] - damage.astype(np.float32) * np.float32(PRIOR.t))
  monkeypatch.setattr(zoo, 'MODELS_DIR', tmp_path / 'models')
  zoo.save_global_model('damaged', params, {'config': shipped.manifest['config']})
  theta_d = zoo.load_global_model('damaged')
  groups = ('g_s/ConvTranspose_3/kernel', 'h_s/ConvTranspose_1/kernel')
  names = model_update.selected_names(params, groups)
  assert names == ('g_s/ConvTranspose_3/kernel', 'h_s/ConvTranspose_1/kernel')
  one_entry = np.zeros(params['h_s']['ConvTranspose_1']['kernel'].shape, np.int32)
  one_entry[0, 0, 0, 0] = 1
  update = model_update.ModelUpdate(PAPER, groups, names, (damage, one_entry))
  frames = bikes_frames[:2, :64, :128]
  beta = 8.0  # so that the dense restoring δ̂ (~60 kbit on 16 k pixels) pays
  values = prune.leaf_values(theta_d.arch, theta_d.params, update, frames, beta)
  assert values['g_s/ConvTranspose_3/kernel'] > 0 > values['h_s/ConvTranspose_1/kernel']

  candidates = [Candidate('encoder', 0, theta_d.params, None),
                Candidate('joint', 1, update.apply(theta_d.params), update)]
  monkeypatch.setattr(finetune, 'adapt',
                      lambda *args, **kwargs: finetune.Adapted(candidates, None, []))
  config = configuration.adaptation(base.adapting(), 'bikes', 'full', beta, 'damaged')
  result = pipeline.encode_video(config, frames, tmp_path / 'run', theta_d)
  losses = {c['label']: c['L_rdm_coded'] for c in result.candidates}
  assert list(losses) == ['encoder@0', 'joint@1', 'joint@1-pruned']
  assert result.summary['label'] == 'joint@1-pruned'
  assert losses['joint@1-pruned'] < losses['joint@1'] < losses['encoder@0']
  written = stream.unpack_update(container.read(result.encoded.data).update, theta_d.params)
  np.testing.assert_array_equal(written.k[0], damage)
  assert not written.k[1].any()
  np.testing.assert_array_equal(stream.decode(result.encoded.data), result.encoded.x_hat)
  config.adapt.prune_leaves = False
  unpruned = pipeline.encode_video(config, frames, tmp_path / 'run', theta_d)
  assert [c['label'] for c in unpruned.candidates] == ['encoder@0', 'joint@1']


def test_leaves_of_a_long_clip_are_valued_on_evenly_spaced_frames_at_its_whole_pixel_count():
  from rdm import prune
  frames = np.arange(45)[:, None, None, None] * np.ones((1, 2, 3, 3), np.uint8)
  sample = prune.valuation_frames(frames)
  assert len(sample) == prune.VALUATION_FRAMES
  assert sample[0, 0, 0, 0] == 0 and sample[-1, 0, 0, 0] == 44
  assert len(set(sample[:, 0, 0, 0].tolist())) == prune.VALUATION_FRAMES
  assert len(prune.valuation_frames(frames[:7])) == 7
