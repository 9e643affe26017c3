"""Configs on the command line, one way everywhere: ml_collections' `--config.a.b=v`.

rdm.main, the experiment scripts and the device script each define a config flag pointing at a
configs/*.py file; any field is overridden with --<flag>.<section>.<field>=<value>, cast and
checked against the field's type (tuples as Python literals: --config.adapt.groups="('g_s',)").
A bad flag, value or field is one line and exit 2 (rdm.errors), never a traceback.
"""
import contextlib
import pathlib
import sys

from absl import flags
import ml_collections
from ml_collections import config_flags

from rdm import errors

FLAGS = flags.FLAGS
CONFIG_FLAGS = []  # the names define_config_flag defined in this process


def config_file(name: str) -> str:
  """The path of configs/<name> wherever the command runs from."""
  import configs
  return str(pathlib.Path(configs.__file__).parent / name)


def define_config_flag(default: str | None, name: str = 'config',
                       help_text: str = 'a configs/*.py file') -> flags.FlagHolder:
  """A config flag; default: a file name under configs/ (loaded, and the command line's
  overrides of it read, here already)."""
  CONFIG_FLAGS.append(name)
  with errors_in_one_line():
    return config_flags.DEFINE_config_file(name, default and config_file(default), help_text,
                                           lock_config=True)


def overrides(name: str = 'config') -> dict:
  """{'adapt.crop': 256, ...}: the fields the command line set on the config flag `name`."""
  return dict(sorted(config_flags.get_override_values(FLAGS[name]).items()))


@contextlib.contextmanager
def errors_in_one_line():
  """A bad flag, value, config file or overridden field: one line and exit 2."""
  try:
    yield
  except (flags.Error, OSError) as e:  # a bad flag or value; a config file that is not there
    sys.exit(errors.report(errors.ConfigError(e)))
  except (AttributeError, KeyError) as e:  # ml_collections: a field the config does not have
    field = str(e).strip('"\'')
    sys.exit(errors.report(errors.ConfigError(f'a --config override names {field!r}, which the '
                                              'config does not have')))


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing (app.run's flags_parser), a bad flag or override reported as one line."""
  with errors_in_one_line():
    remaining = FLAGS(argv)
    for name in CONFIG_FLAGS:  # a config file that failed to load raises when read
      'seed' in FLAGS[name].value  # noqa: B015
    return remaining


def with_fields(config: ml_collections.ConfigDict, fields: dict) -> ml_collections.ConfigDict:
  """A locked copy of config with dotted fields set ({'adapt.steps': 300}), each checked against
  its field's type by ConfigDict."""
  c = ml_collections.ConfigDict(config.to_dict())
  for key, value in fields.items():
    *parents, leaf = key.split('.')
    node = c
    for p in parents:
      node = node[p]
    if leaf not in node:
      raise errors.ConfigError(f'the config has no field {key!r}')
    try:
      node[leaf] = value
    except TypeError as e:
      raise errors.ConfigError(f'{key}: {e}') from e
  c.lock()
  return c


def adaptation(config, video: str, mode: str, beta: float, model: str):
  """The adaptation config of one sweep point: `config` at this video, mode, β and θ_D."""
  return with_fields(config, {'data.video': video, 'adapt.mode': mode, 'loss.beta': beta,
                              'global_model': model})
