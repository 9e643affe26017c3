"""Claims about embedding a trained narrow θ in a wider model (rdm.widen)."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import base
from rdm import losses, model, train, widen, zoo
from rdm.zoo import ModelError

WIDE = model.Architecture(N=80, M=120)


@pytest.fixture(scope='module')
def base_and_widened():
  shipped = zoo.load_global_model('msh-n64-beta128')
  return shipped, widen.widened(shipped.params, shipped.arch, WIDE, jax.random.PRNGKey(3))


@functools.partial(jax.jit, static_argnums=0)
def coded(arch, params, x):
  return model.forward(arch, params, x, None, rate_mode='round', decoder_mode='round')


def test_the_widened_model_decodes_the_same_image_and_prices_the_old_latents_the_same(
    base_and_widened, bikes_frames):
  shipped, wide = base_and_widened
  x = jnp.asarray(bikes_frames[:1, :128, 200:328], jnp.float32)
  narrow_fwd, wide_fwd = coded(shipped.arch, shipped.params, x), coded(WIDE, wide, x)
  assert wide_fwd.y_hat.shape[-1] == WIDE.M
  np.testing.assert_allclose(wide_fwd.y[..., :shipped.arch.M], narrow_fwd.y, atol=1e-4)
  # The same symbols (a different one would differ by ≥ 1), around μ equal to float rounding.
  np.testing.assert_allclose(wide_fwd.y_hat[..., :shipped.arch.M], narrow_fwd.y_hat, atol=1e-4)
  assert not np.any(wide_fwd.y_hat[..., shipped.arch.M:])  # the new latents are 0 ...
  np.testing.assert_allclose(wide_fwd.x_hat, narrow_fwd.x_hat, atol=1e-3)  # ... and unseen
  new_y = wide_fwd.y_hat[..., shipped.arch.M:].size
  extra_y = float(wide_fwd.bits_y - narrow_fwd.bits_y)
  assert 0 < extra_y < 0.003 * new_y  # σ = 0.15 at 0: a unit bin holds 99.9 % of the mass
  # The new z channels are 0 too, priced by the old prior that prices 0 cheapest.
  new_z = wide_fwd.z[..., shipped.arch.N:]
  assert not np.any(new_z)
  assert 0 <= float(wide_fwd.bits_z - narrow_fwd.bits_z) < 0.2 * new_z.size


@pytest.mark.parametrize('wide', [model.Architecture(N=32, M=96),
                                  model.Architecture(N=64, M=128, alignment='torch'),
                                  model.Architecture(N=64, M=128, hyperprior='scale-only')])
def test_only_growing_n_and_m_of_a_mean_scale_model_is_a_widening(wide):
  with pytest.raises(ModelError, match='cannot widen'):
    widen.widened(None, model.Architecture(N=64, M=96), wide, jax.random.PRNGKey(0))


def test_a_run_whose_model_is_wider_than_its_start_continues_it_widened_and_trains_the_new_channels(
    use_tiny_models, bikes_frames):
  narrow = zoo.load_global_model('tiny-a')
  config = base.training()
  with config.unlocked():
    config.train.init_from = 'tiny-a'
    config.model.N, config.model.M = narrow.arch.N + 4, narrow.arch.M + 2
  arch = model.Architecture.from_config(config.model)
  params = train.initial_params(config, arch)
  assert jax.tree_util.tree_map(np.shape, params) == jax.tree_util.tree_map(
      np.shape, model.param_shapes(arch))
  x = jnp.asarray(bikes_frames[:1, :64, 200:264], jnp.float32)
  np.testing.assert_allclose(coded(arch, params, x).x_hat,
                             coded(narrow.arch, narrow.params, x).x_hat, atol=1e-3)

  def loss(params):
    return losses.rd_loss(model.forward(arch, params, x, jax.random.PRNGKey(0)), x, 128.0)[0]

  grads = jax.jit(jax.grad(loss))(params)
  # What a new channel adds to the image and to the old latents' hyperprior starts at 0 and is
  # learnt: those weights have gradients from the first step.
  for group, layer in (('g_s', 'ConvTranspose_3'), ('g_s', 'ConvTranspose_1'),
                       ('g_a', 'Conv_3'), ('h_a', 'Conv_2')):
    assert np.any(grads[group][layer]['kernel'][:, :, narrow.arch.N:, :] != 0), (group, layer)
  assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
