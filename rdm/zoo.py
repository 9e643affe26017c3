"""Shipped global models θ_D: models/<name>/{params.msgpack, manifest.json}.

The model id written into every bitstream is params_hash(θ_D), so a receiver can only decode
with exactly the parameters the sender used.
"""
import dataclasses
import hashlib
import json
import os
import pathlib
import re
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from rdm import errors
from rdm import model


def default_models_dir() -> pathlib.Path:
  """The checkout's models/, or where a (non-editable) install put them: the wheel carries
  models/ as the data-only package rdm_models beside rdm (pyproject.toml)."""
  above = pathlib.Path(__file__).resolve().parent.parent
  return above / 'models' if (above / 'models').is_dir() else above / 'rdm_models'


# RDM_MODELS points a run (or a test) at another folder of models.
MODELS_DIR = pathlib.Path(os.environ.get('RDM_MODELS', default_models_dir()))


class ModelError(errors.UserError):
  """A global model that is missing, corrupt or not the one expected."""


def params_hash(params: Any) -> str:
  """sha256 over every leaf's path, dtype, shape and little-endian bytes, in sorted path order."""
  h = hashlib.sha256()
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  for path, leaf in sorted(leaves, key=lambda kv: jax.tree_util.keystr(kv[0])):
    a = np.ascontiguousarray(np.asarray(leaf))
    h.update(f'{jax.tree_util.keystr(path)}|{a.dtype.str}|{a.shape}|'.encode())
    h.update(a.astype(a.dtype.newbyteorder('<')).tobytes())
  return h.hexdigest()


def available() -> list[str]:
  return sorted(p.parent.name for p in MODELS_DIR.glob('*/manifest.json'))


def manifest(name: str) -> dict:
  path = MODELS_DIR / name / 'manifest.json'
  if not path.is_file():
    raise ModelError(f'no shipped global model {name!r} in {MODELS_DIR} (available: '
                     f'{", ".join(available()) or "none"}); point RDM_MODELS at the models/ '
                     'folder of an rdm checkout')
  return json.loads(path.read_text())


def architecture(name: str) -> model.Architecture:
  m = manifest(name)
  return model.Architecture.from_config(m['config']['model'])


@dataclasses.dataclass(frozen=True)
class GlobalModel:
  """A shipped θ_D, loaded once per job and handed to everything that needs it."""
  arch: model.Architecture
  params: Any
  manifest: dict

  @property
  def name(self) -> str:
    return self.manifest['name']

  @property
  def sha256(self) -> str:
    """The model id every bitstream carries."""
    return self.manifest['sha256']


def load_global_model(name: str) -> GlobalModel:
  """A shipped model, its hash checked."""
  m = manifest(name)
  arch = architecture(name)
  path = MODELS_DIR / name / 'params.msgpack'
  if not path.is_file():
    raise ModelError(f'{name}: {path} is missing')
  try:
    params = restore_params(path, arch)
  except Exception as e:  # msgpack raises several unrelated types on corrupt input
    raise ModelError(f'{name}: {path} is not a valid parameter file ({e})') from e
  digest = params_hash(params)
  if digest != m['sha256']:
    raise ModelError(f'{name}: parameter hash {digest[:16]}… does not match the manifest\'s '
                     f'{m["sha256"][:16]}… (file corrupt or replaced)')
  if not all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(params)):
    raise ModelError(f'{name}: parameters contain NaN or Inf')
  return GlobalModel(arch, params, m)


def ladder_model(beta: float, default: str) -> str:
  """The shipped model trained at β (msh-n<N>-beta<β>, the narrowest if several), else default."""
  pattern = rf'msh-n(\d+)-beta{re.escape(f"{beta:g}")}'
  widths = {n: int(m[1]) for n in available() if (m := re.fullmatch(pattern, n))}
  return min(widths, key=widths.get, default=default)


def model_key(name: str) -> str:
  """name@hash: results keyed by it make a retrained model of the same name a new point."""
  return f'{name}@{manifest(name)["sha256"][:12]}'


def find_by_hash(digest: str) -> str:
  """Name of the shipped model whose id is digest."""
  for name in available():
    if manifest(name)['sha256'] == digest:
      return name
  raise ModelError(f'no shipped global model has id {digest[:16]}…; the stream was made with '
                   'another θ_D')


def params_from_state(state: dict, arch: model.Architecture) -> Any:
  """θ of arch from a restored nested dict: a missing or extra leaf, or one of another shape
  (a file of another N or M), is an error."""
  shapes = model.param_shapes(arch)
  params = flax.serialization.from_state_dict(shapes, state)
  for (path, expected), leaf in zip(jax.tree_util.tree_flatten_with_path(shapes)[0],
                                    jax.tree_util.tree_leaves(params)):
    if np.shape(leaf) != expected.shape:
      raise ValueError(f'{jax.tree_util.keystr(path)} has shape {np.shape(leaf)}, {arch} '
                       f'has {expected.shape}')
  return params


def as_float32(params: Any) -> Any:
  """θ of any float dtype (a device run returns bfloat16) as the float32 every model runs in."""
  return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), params)


def bfloat16_rounded(params: Any) -> Any:
  """θ rounded to the nearest bfloat16 values, kept float32: what an export ships, so that the
  file holds it at half the bytes (stored_leaf) and the model runs on exactly those values."""
  return as_float32(jax.tree_util.tree_map(lambda x: np.asarray(x).astype(jnp.bfloat16), params))


def stored_leaf(x: Any) -> np.ndarray:
  """A float32 leaf as the file stores it: bfloat16 where that holds it exactly, else as it is
  (the id is the hash of the float32 values either way)."""
  x = np.asarray(x)
  half = x.astype(jnp.bfloat16)
  return half if np.array_equal(half.astype(x.dtype), x) else x


def restore_params(path: pathlib.Path, arch: model.Architecture) -> Any:
  """θ of arch from a flax msgpack file of any float dtype (a device run returns bfloat16, a
  shipped model stores bfloat16 where that is exact), as float32; raises what msgpack raises."""
  return as_float32(params_from_state(flax.serialization.msgpack_restore(path.read_bytes()), arch))


def read_params_file(path: pathlib.Path, arch: model.Architecture) -> Any:
  """θ from a parameter file that is not a shipped model (no manifest, no hash to check)."""
  try:
    return restore_params(path, arch)
  except Exception as e:  # msgpack raises several unrelated types on corrupt input
    raise ModelError(f'{path} is not a parameter file of {arch} ({e})') from e


EMA = 'ema'  # <workdir>/ema: the moving average of θ a training workdir's checkpoints keep


def training_run(source: str) -> tuple[pathlib.Path, str] | None:
  """(workdir, 'params' or 'ema') where source names a training workdir or its moving average."""
  path = pathlib.Path(source)
  field = 'ema' if path.name == EMA and not path.is_dir() else 'params'
  workdir = path.parent if field == 'ema' else path
  return (workdir, field) if (workdir / 'checkpoints').is_dir() else None


def source_architecture(source: str) -> model.Architecture | None:
  """The architecture of the θ that source names: a shipped model's, a training run's config's;
  None for a bare parameter file (it records none)."""
  if pathlib.Path(source).suffix == '.msgpack':
    return None
  if run := training_run(source):
    config = json.loads((run[0] / 'config.json').read_text())
    return model.Architecture.from_config(config['model'])
  return architecture(source)


def load_params(source: str, arch: model.Architecture) -> Any:
  """θ from a shipped model name, a training workdir's latest checkpoint (<workdir>/ema: its
  moving average) or a .msgpack file."""
  path = pathlib.Path(source)
  if path.suffix == '.msgpack' and path.is_file():
    return read_params_file(path, arch)
  if run := training_run(source):
    workdir, field = run
    from rdm import checkpoint  # a training workdir: its latest TrainState's params
    mgr = checkpoint.manager(workdir / 'checkpoints')
    if mgr.latest_step() is None:
      raise ModelError(f'{source}: no checkpoint to start from')
    # Untyped restore gives the saved nested dict; params_from_state checks it against arch.
    saved = mgr.restore(mgr.latest_step())
    if saved.get(field) is None:
      raise ModelError(f'{source}: its run kept no moving average (train.ema_decay was 0)')
    try:
      return params_from_state(saved[field], arch)
    except ValueError as e:
      raise ModelError(f'{source}: its checkpoint is not of {arch} ({e})') from e
  loaded = load_global_model(source)
  if loaded.arch != arch:
    raise ModelError(f'{source} is {loaded.arch}, the config asks for {arch}')
  return loaded.params


def save_global_model(name: str, params: Any, info: dict,
                      models_dir: pathlib.Path | None = None) -> dict:
  """Write <models_dir>/<name>/ (default: MODELS_DIR) with a manifest whose sha256 is the model
  id."""
  folder = (models_dir or MODELS_DIR) / name
  folder.mkdir(parents=True, exist_ok=True)
  stored = jax.tree_util.tree_map(stored_leaf, params)
  (folder / 'params.msgpack').write_bytes(flax.serialization.to_bytes(stored))
  m = {**info, 'name': name, 'sha256': params_hash(params)}
  (folder / 'manifest.json').write_text(json.dumps(m, indent=2, sort_keys=True) + '\n')
  return m
