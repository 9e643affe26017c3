"""CompressAI's hyperprior models imported as θ_D (rdm/compressai_import.py): the same transforms,
likelihoods and, within 1 %, bits as CompressAI itself, on the arrays its own environment wrote
(scripts/compressai_parity.py: random weights drawn by numpy, so no torch is needed here)."""
import ast
import json

import numpy as np
import pytest

from conftest import ROOT, load_script, run_python
from rdm import coding, compressai_import, entropy_models, model

FIXTURES = sorted((ROOT / 'tests' / 'data' / 'compressai').glob('*.npz'))
TOLERANCE = 1e-4  # absolute, relative where |value| > 1


def fixture_state(fixture) -> tuple[dict, dict]:
  """(what CompressAI computed, the state dict it computed it with)."""
  f = dict(np.load(fixture))
  shapes = {n: ast.literal_eval(s) for n, s in zip(f['names'], f['shapes'])}
  state = load_script('compressai_parity').random_state_dict(shapes, int(f['seed']),
                                                             arch_name(fixture))
  return f, {**state, 'entropy_bottleneck.quantiles': f['quantiles']}


def arch_name(fixture) -> str:
  return fixture.name.split('-N')[0]


def imported(fixture):
  f, state = fixture_state(fixture)
  arch = compressai_import.architecture(arch_name(fixture), state)
  return f, arch, compressai_import.convert(state, arch)


def assert_close(actual, expected):
  actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
  assert actual.shape == expected.shape
  error = np.abs(actual - expected) / np.maximum(1.0, np.abs(expected))
  assert error.max() <= TOLERANCE, f'max error {error.max():.2e}'


@pytest.mark.parametrize('fixture', FIXTURES, ids=lambda p: p.stem)
def test_transforms_and_likelihoods_are_compressais(fixture):
  f, arch, params = imported(fixture)
  y, z = model.analyze(arch, params, f['x'][None].astype(np.float32))
  assert_close(y, f['y'])
  assert_close(z, f['z'])
  # Each later stage from CompressAI's own ẑ and ŷ, so every transform is compared by itself.
  hyper = model.hyper_decode(arch, params, f['z_hat'])
  assert_close(entropy_models.gaussian_likelihood(f['y_hat'], hyper.mu, hyper.sigma),
               f['likelihood_y'])
  assert_close(entropy_models.factorized_likelihood(arch.modules['prior_z'], params['prior_z'],
                                                    f['z_hat']), f['likelihood_z'])
  height, width = f['x'].shape[:2]
  assert_close(model.synthesize(arch, params, f['y_hat'], height, width) / 255.0, f['x_hat'])
  # rdm's own quantization around the medians and the means gives CompressAI's ẑ and ŷ.
  coder = coding.make_coder(arch, params)
  _, z_symbols = coding.analyze_params(arch, params, f['x'][None].astype(np.float32))
  np.testing.assert_array_equal(coder.z_hat(np.asarray(z_symbols, np.int32)), f['z_hat'])
  forward = model.forward(arch, params, f['x'][None].astype(np.float32), None, 'round', 'round')
  assert_close(forward.y_hat, f['y_hat'])


@pytest.mark.parametrize('fixture', FIXTURES, ids=lambda p: p.stem)
def test_real_bits_are_within_one_percent_of_compressais(fixture):
  """At the zoo's N/M (~10 kB a stream) within 1 %; on the small models' ~700 bytes CompressAI's
  own costs (a 64-row scale table rounding σ up, two rANS flushes) are 2 % over the ideal bits,
  so there rdm may only not be worse."""
  f, arch, params = imported(fixture)
  coded = coding.compress_frame(coding.make_coder(arch, params), f['x'])
  ours, theirs = len(coded.z_bytes) + len(coded.y_bytes), int(f['bytes_y'] + f['bytes_z'])
  assert ours <= 1.01 * theirs, (ours, theirs)
  if arch.N >= 128:
    assert ours >= 0.99 * theirs, (ours, theirs)


def test_an_imported_model_adapts_codes_and_decodes_bit_exactly_in_a_fresh_process(tmp_path):
  """The converter's command on a checkpoint (.npz), its manifest, then full adaptation on it
  through the codec's command and the decoder in another process."""
  fixture = ROOT / 'tests' / 'data' / 'compressai' / 'mbt2018-mean-N16-M24.npz'
  _, state = fixture_state(fixture)
  checkpoint = tmp_path / 'mbt2018-mean-3-0123abcd.npz'  # the zoo's naming: quality 3
  np.savez(checkpoint, **state)
  models = tmp_path / 'models'
  result = run_python(['-m', 'rdm.cli', 'import-compressai', str(checkpoint), '--arch',
                       'mbt2018-mean', '--out', str(models / 'cai-q3'), '--rd_frames', '1'])
  assert result.returncode == 0, result.stderr[-3000:]
  manifest = json.loads((models / 'cai-q3' / 'manifest.json').read_text())
  assert manifest['source']['quality'] == 3 and manifest['source']['lambda'] == 0.0067
  assert manifest['config']['loss']['beta'] == pytest.approx(1 / 0.0067)
  assert manifest['config']['model']['N'] == 16 and manifest['config']['model']['M'] == 24
  assert set(manifest['rd_2fps_iframes']) == {'bikes', 'carphone'}
  env = {'RDM_MODELS': str(models)}
  stream = tmp_path / 'bikes.rdm'
  compressed = run_python(['-m', 'rdm.codec', 'compress', 'bikes', '-o', str(stream), '--model',
                           'cai-q3', '--adapt', 'full', '--beta', '149', '--steps', '2',
                           '--frames', '2'], env=env)
  assert compressed.returncode == 0, compressed.stderr[-3000:]
  psnr = compressed.stdout.split('PSNR ')[1].split(' dB')[0]
  info = run_python(['-m', 'rdm.codec', 'info', str(stream), '--original', 'bikes'], env=env)
  assert info.returncode == 0, info.stderr[-3000:]
  assert 'cai-q3' in info.stdout and f'PSNR {psnr} dB' in info.stdout


def test_a_torch_checkpoint_reads_as_its_state_dict(tmp_path):
  torch = pytest.importorskip('torch', reason='torch is not installed here (rdm does not need '
                              "it); the .npz tests above cover the conversion")
  _, state = fixture_state(FIXTURES[0])
  path = tmp_path / 'checkpoint.pth.tar'
  torch.save({'state_dict': {f'module.{k}': torch.from_numpy(v) for k, v in state.items()}}, path)
  read = compressai_import.read_state_dict(path)
  assert set(read) == set(state) and all(np.array_equal(read[k], state[k]) for k in state)
