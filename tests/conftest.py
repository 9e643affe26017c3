"""Shared fixtures: a tiny architecture, tiny shipped models in a temp folder, real frames."""
import atexit
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

# Most of the suite's time is XLA compiling the same tiny functions again in every test and
# every subprocess: one persistent compilation cache per session (fresh, so no run depends on
# an earlier one) lets each compile once. Set before JAX starts; subprocesses and pytest-xdist's
# workers (started after this file is imported) inherit it; the process that made it removes it.
if 'RDM_TEST_JAX_CACHE' not in os.environ:
  os.environ['RDM_TEST_JAX_CACHE'] = tempfile.mkdtemp(prefix='rdm-test-jax-cache-')
  atexit.register(shutil.rmtree, os.environ['RDM_TEST_JAX_CACHE'], ignore_errors=True)
os.environ.update(JAX_COMPILATION_CACHE_DIR=os.environ['RDM_TEST_JAX_CACHE'],
                  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
                  JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='-1')
# The rest of that time is XLA optimizing programs that then run for milliseconds: the suite
# compiles without most optimizations (half the compile time; the claims are about what rdm
# computes, and each still holds). Tests marked `optimized` claim that separately compiled
# programs agree bit for bit (processes, device counts): they run their subprocesses as users
# do, optimized. JAX_DISABLE_MOST_OPTIMIZATIONS=0 runs the whole suite optimized.
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')

import jax  # noqa: E402  (after the cache settings)
import pytest

from rdm import data, files, model, zoo

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = model.Architecture(N=8, M=8)


@pytest.fixture(autouse=True)
def optimized_subprocesses(request, monkeypatch):
  """Subprocesses of a test marked `optimized` compile with all of XLA's optimizations."""
  if request.node.get_closest_marker('optimized'):
    monkeypatch.setenv('JAX_DISABLE_MOST_OPTIMIZATIONS', '0')


@pytest.fixture(scope='session')
def tiny_arch():
  return TINY


@pytest.fixture(scope='session')
def tiny_models(tmp_path_factory):
  """Folder with shipped-format models 'tiny-a' and 'tiny-b' (random θ, seeds 0 and 1)."""
  folder = tmp_path_factory.mktemp('models')
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(zoo, 'MODELS_DIR', folder)
    for seed, name in enumerate(('tiny-a', 'tiny-b')):
      params = model.init_params(TINY, jax.random.PRNGKey(seed))
      zoo.save_global_model(name, params, {'config': {'model': {'N': TINY.N, 'M': TINY.M}}})
  return folder


@pytest.fixture
def use_tiny_models(tiny_models, monkeypatch):
  monkeypatch.setattr(zoo, 'MODELS_DIR', tiny_models)
  monkeypatch.setenv('RDM_MODELS', str(tiny_models))
  return tiny_models


@pytest.fixture(scope='session')
def bikes_frames():
  """The first two 2 fps I-frames of the bundled bikes clip (real video, 640×272)."""
  return data.read_iframes('bikes', max_frames=2)


def load_script(name: str):
  """scripts/<name>.py as a module, for testing its functions (scripts import each other, as
  they do when run from scripts/)."""
  if str(ROOT / 'scripts') not in sys.path:
    sys.path.insert(0, str(ROOT / 'scripts'))
  spec = importlib.util.spec_from_file_location(name, ROOT / 'scripts' / f'{name}.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def run_python(args, env=None, timeout=600, **kw):
  """Run `python args...` from the repository root in a fresh interpreter."""
  full_env = {**os.environ, **(env or {})}
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True,
                        text=True, timeout=timeout, **kw)


@pytest.fixture(scope='session')
def photo_dirs(tmp_path_factory, bikes_frames):
  """Real images (bikes I-frames) as a training and an eval folder."""
  root = tmp_path_factory.mktemp('photos')
  for split, frames in (('train', bikes_frames), ('eval', bikes_frames[:1])):
    (root / split).mkdir()
    for i, f in enumerate(frames):
      files.save_png(root / split / f'{i}.png', f)
  return root


def tiny_train_args(workdir, photos, steps, extra=()):
  return ['-m', 'rdm.main', '--config=configs/global.py', f'--workdir={workdir}',
          '--config.model.N=8', '--config.model.M=8', f'--config.train.steps={steps}',
          f'--config.train.photos={photos}/train', f'--config.train.eval_photos={photos}/eval',
          '--config.train.short_side=128', '--config.train.eval_side=128',
          '--config.train.crop=64',
          '--config.train.batch_size=2', '--config.train.log_every=1',
          '--config.train.checkpoint_every=5', '--config.train.eval_every=0',
          '--config.train.warmup_steps=2', '--config.train.lr=1e-3', *extra]
