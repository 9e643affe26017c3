"""Claims about the mean-scale hyperprior as pure functions."""
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from rdm import entropy_models, losses, model, quantization, zoo


def test_shapes_and_parameter_count_of_the_default_model():
  arch = model.Architecture(64, 96)
  params = model.init_params(arch, jax.random.PRNGKey(0))
  assert set(params) == {'g_a', 'g_s', 'h_a', 'h_s', 'prior_z'}
  # Convs: g_a 3·64·25 + 2·64·64·25 + 64·96·25, g_s mirrored, h_a/h_s as in Minnen et al.;
  # GDN 64² + 64 each; the factorized prior 64·(3+9+9+3 matrices, 10 biases, 9 factors).
  assert model.parameter_count(params) == 1_763_347
  x = jnp.zeros((2, 130, 70, 3))
  fwd = model.forward(arch, params, x, jax.random.PRNGKey(1))
  assert fwd.x_hat.shape == (2, 130, 70, 3)
  assert fwd.y.shape == (2, 12, 8, 96)  # padded to 192×128, /16
  assert fwd.z.shape == (2, 3, 2, 64)


def test_gaussian_rate_equals_hand_computation():
  y = jnp.array([0.0, 1.0, -2.0, 3.0])
  mu = jnp.array([0.0, 0.5, 0.0, -1.0])
  sigma = jnp.array([1.0, 2.0, 0.5, 4.0])
  v = np.abs(np.asarray(y - mu, np.float64))
  s = np.asarray(sigma, np.float64)
  hand = -np.sum(np.log2(special.ndtr((0.5 - v) / s) - special.ndtr((-0.5 - v) / s)))
  got = entropy_models.bits(entropy_models.gaussian_likelihood(y, mu, sigma))
  np.testing.assert_allclose(float(got), hand, rtol=1e-5)


def test_factorized_prior_bins_form_a_distribution(tiny_arch):
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  grid = jnp.arange(-300.0, 301.0)[:, None] * jnp.ones((1, tiny_arch.N))
  mass = entropy_models.factorized_likelihood(tiny_arch.modules['prior_z'],
                                              params['prior_z'], grid)
  np.testing.assert_allclose(np.asarray(mass).sum(0), 1.0, atol=1e-4)


def test_straight_through_round_has_identity_gradient():
  x = jnp.linspace(-3, 3, 13) + 0.3
  assert np.array_equal(quantization.ste_round(x), jnp.round(x))
  grad = jax.grad(lambda v: jnp.sum(quantization.ste_round(v) * 2.0))(x)
  np.testing.assert_array_equal(grad, 2.0 * jnp.ones_like(x))


@pytest.mark.parametrize('rate_mode,decoder_mode', [('noise', 'ste'), ('noise', 'noise'),
                                                    ('ste', 'ste')])
def test_gradients_through_quantization_proxies_are_finite_and_nonzero(
    tiny_arch, rate_mode, decoder_mode):
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, 64, 64, 3)) * 255

  def loss(p):
    fwd = model.forward(tiny_arch, p, x, jax.random.PRNGKey(2), rate_mode, decoder_mode)
    return losses.rd_loss(fwd, x, 100.0)[0]

  grads = jax.grad(loss)(params)
  for group, g in grads.items():
    leaves = jax.tree_util.tree_leaves(g)
    assert all(np.all(np.isfinite(l)) for l in leaves), group
    assert sum(float(jnp.sum(jnp.abs(l))) for l in leaves) > 0, group


def test_any_frame_size_is_padded_and_cropped_back(tiny_arch):
  params = model.init_params(tiny_arch, jax.random.PRNGKey(0))
  for h, w in [(1, 1), (65, 33), (144, 176)]:
    fwd = model.forward(tiny_arch, params, jnp.zeros((1, h, w, 3)), None, 'round', 'round')
    assert fwd.x_hat.shape == (1, h, w, 3)


def test_a_parameter_file_of_another_size_a_corrupt_one_and_a_replaced_one_are_refused(
    tmp_path, monkeypatch):
  monkeypatch.setattr(zoo, 'MODELS_DIR', tmp_path)
  small, other = model.Architecture(8, 8), model.Architecture(8, 16)
  params = model.init_params(small, jax.random.PRNGKey(0))
  zoo.save_global_model('small', params, {'config': {'model': {'N': 8, 'M': 8}}})
  loaded = zoo.load_global_model('small').params
  assert all(np.array_equal(a, b) for a, b in
             zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(loaded)))
  file = tmp_path / 'small' / 'params.msgpack'
  with pytest.raises(zoo.ModelError, match=r"\['g_a'\]\['Conv_3'\]\['bias'\] has shape \(8,\)"):
    zoo.load_params(str(file), other)
  file.write_bytes(file.read_bytes()[:100])
  with pytest.raises(zoo.ModelError, match='small: .* is not a valid parameter file'):
    zoo.load_global_model('small')
  replaced = jax.tree_util.tree_map(lambda x: x + 1, params)
  file.write_bytes(flax.serialization.to_bytes(replaced))
  with pytest.raises(zoo.ModelError, match='does not match the manifest'):
    zoo.load_global_model('small')


def test_a_model_rounded_to_bfloat16_is_stored_in_half_the_bytes_and_loads_as_the_same_floats(
    tmp_path, monkeypatch):
  monkeypatch.setattr(zoo, 'MODELS_DIR', tmp_path)
  arch = model.Architecture(8, 8)
  params = model.init_params(arch, jax.random.PRNGKey(0))
  rounded = zoo.bfloat16_rounded(params)
  info = {'config': {'model': {'N': 8, 'M': 8}}}
  exact = zoo.save_global_model('exact', params, info)
  compact = zoo.save_global_model('compact', rounded, info)
  sizes = {n: (tmp_path / n / 'params.msgpack').stat().st_size for n in ('exact', 'compact')}
  assert sizes['compact'] < 0.6 * sizes['exact']
  for name, expected, m in (('exact', params, exact), ('compact', rounded, compact)):
    loaded = zoo.load_global_model(name)
    assert loaded.sha256 == m['sha256'] == zoo.params_hash(expected)
    for a, b in zip(jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(loaded.params)):
      assert b.dtype == np.float32 and np.array_equal(a, b)
  assert exact['sha256'] != compact['sha256']


def test_the_ladder_model_of_a_beta_is_the_narrowest_shipped_at_it(monkeypatch):
  names = ['msh-n64-beta8', 'msh-n96-beta0.5', 'msh-n192-beta0.5', 'msh-n64-beta128']
  monkeypatch.setattr(zoo, 'available', lambda: names)
  assert zoo.ladder_model(0.5, 'x') == 'msh-n96-beta0.5'
  assert zoo.ladder_model(8.0, 'x') == 'msh-n64-beta8'
  assert zoo.ladder_model(2, 'x') == 'x'
