"""CompressAI's hyperprior models imported as θ_D (rdm/compressai_import.py): the same transforms,
likelihoods and, within 1 %, bits as CompressAI itself, on the arrays its own environment wrote
(scripts/compressai_parity.py: random weights drawn by numpy, so no torch is needed here)."""
import json

import numpy as np
import pytest

from conftest import ROOT, load_script, run_python
from rdm import compressai_import

FIXTURES = sorted((ROOT / 'tests' / 'data' / 'compressai').glob('*.npz'))
TOLERANCE = 1e-4  # absolute, relative where |value| > 1
TENSORS = ('y', 'z', 'z_hat', 'y_hat', 'likelihood_y', 'likelihood_z', 'x_hat')


@pytest.fixture(scope='module')
def parity():
  script = load_script('compressai_parity')
  return {path.stem: script.parity(path) for path in FIXTURES}


@pytest.mark.parametrize('fixture', [p.stem for p in FIXTURES])
def test_transforms_quantization_and_likelihoods_are_compressais(parity, fixture):
  errors = {t: parity[fixture][t] for t in TENSORS}
  assert max(errors.values()) <= TOLERANCE, errors


@pytest.mark.parametrize('fixture', [p.stem for p in FIXTURES])
def test_real_bits_are_within_one_percent_of_compressais(parity, fixture):
  """At the zoo's N/M (~5 kB a stream) within 1 %; on the small models' ~180 bytes CompressAI's
  fixed costs (two rANS flushes, a 64-row scale table rounding σ up) are 5 % of the stream, so
  there rdm may only not be worse."""
  r = parity[fixture]
  ours, theirs = r['bytes_rdm'], r['bytes_compressai']
  assert ours <= 1.01 * theirs, (ours, theirs)
  if r['arch'].N >= 128:
    assert ours >= 0.99 * theirs, (ours, theirs)


def test_an_imported_model_codes_decodes_bit_exactly_in_a_fresh_process_and_adapts(tmp_path):
  """The converter's command on a checkpoint (.npz) and its manifest; the codec's command on the
  imported model, decoded in another process; full adaptation of it in a sweep point."""
  _, state, _ = load_script('compressai_parity').load(FIXTURES[-2])  # mbt2018-mean, N=16
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
                           'cai-q3', '--frames', '1'], env=env)
  assert compressed.returncode == 0, compressed.stderr[-3000:]
  psnr = compressed.stdout.split('PSNR ')[1].split(' dB')[0]
  info = run_python(['-m', 'rdm.codec', 'info', str(stream), '--original', 'bikes'], env=env)
  assert info.returncode == 0, info.stderr[-3000:]
  assert 'cai-q3' in info.stdout and f'PSNR {psnr} dB' in info.stdout
  # a sweep point on it: the update over its receiver-side leaves, the stream decoded and checked
  out = tmp_path / 'sweep.jsonl'
  swept = run_python(['experiments/sweep.py', '--out', str(out), '--video', 'carphone', '--modes',
                      'full', '--betas', '149', '--model', 'cai-q3', '--workdirs',
                      str(tmp_path / 'runs'), '--config.data.max_frames=1',
                      '--config.adapt.steps=1', '--config.adapt.joint_steps=1',
                      '--config.adapt.candidates=1', '--config.adapt.batch_size=1'], env=env)
  assert swept.returncode == 0, swept.stderr[-3000:]
  [record] = [json.loads(l) for l in out.read_text().splitlines()]
  assert record['model'] == 'cai-q3' and [c['phase'] for c in record['candidates']][-1] == 'joint'


def test_a_wrong_checkpoint_is_one_line_naming_the_problem(tmp_path):
  _, state, _ = load_script('compressai_parity').load(FIXTURES[0])  # bmshj2018-hyperprior
  checkpoint = tmp_path / 'bmshj2018-hyperprior-2-0123abcd.npz'
  np.savez(checkpoint, **state)
  result = run_python(['-m', 'rdm.cli', 'import-compressai', str(checkpoint), '--arch',
                       'mbt2018-mean', '--out', str(tmp_path / 'models' / 'x')])
  assert result.returncode == 2 and 'Traceback' not in result.stderr
  assert result.stderr.strip().startswith('error: ') and 'not a CompressAI' in result.stderr


def test_a_torch_checkpoint_reads_as_its_state_dict(tmp_path):
  torch = pytest.importorskip('torch', reason='torch is not installed here (rdm does not need '
                              "it); the .npz tests above cover the conversion")
  _, state, _ = load_script('compressai_parity').load(FIXTURES[0])
  path = tmp_path / 'checkpoint.pth.tar'
  torch.save({'state_dict': {f'module.{k}': torch.from_numpy(v) for k, v in state.items()}}, path)
  read = compressai_import.read_state_dict(path)
  assert set(read) == set(state) and all(np.array_equal(read[k], state[k]) for k in state)
