"""Configs declare, and one way overrides them: every configs/*.py loads, locked, with only the
fields configs/base.py declares; the θ_D v6 recipe is the command lines the shipped models were
made with; --config.a.b=v is checked against each field's type."""
import importlib
import json

import ml_collections
import pytest

from conftest import ROOT, run_python
from configs import base
from rdm import codec, configuration, errors, zoo


def flat(c) -> set:
  return set(ml_collections.ConfigDict(c).to_dict().keys()) | {
      f'{s}.{k}' for s, v in c.items() if isinstance(v, ml_collections.ConfigDict) for k in v}


@pytest.mark.parametrize('name,part', [
    ('global', None), ('global_paper', None), ('xiph_beta', None), ('rq', None),
    ('static_camera', None),
    *[('theta_d_v6', f'sitting{i}') for i in range(1, 10)],
    *[('theta_d_v6', f'beta{b}') for b in (8, 32, 512, 2048)],
    *[('theta_d_v7', f'beta{b:g}') for b in (0.5, 2, 8, 32, 512, 2048, 4096, 8192)]])
def test_every_config_is_a_locked_set_of_declared_fields(name, part):
  module = importlib.import_module(f'configs.{name}')
  c = module.get_config(part) if part else module.get_config()
  assert c.is_locked
  declared = base.training() if 'train' in c else base.adapting()
  assert flat(c) == flat(declared)


def manifest_sittings() -> list[dict]:
  """The --config.* settings of each CPU command that made the shipped base (sittings 1–7)."""
  commands = json.loads((zoo.MODELS_DIR / 'msh-n64-beta128' / 'manifest.json').read_text())
  out = []
  for command in commands['command'].split(' && ')[:7]:
    assert '--config=configs/global.py' in command
    out.append(dict(a.removeprefix('--config.').split('=', 1) for a in command.split()
                    if a.startswith('--config.')))
  return out


@pytest.mark.parametrize('sitting', range(1, 8))
def test_the_recipe_is_the_shipped_bases_commands(sitting):
  recipe = importlib.import_module('configs.theta_d_v6').get_config(f'sitting{sitting}')
  shipped = importlib.import_module('configs.global').get_config()
  with shipped.unlocked():
    for key, value in manifest_sittings()[sitting - 1].items():
      section, field = key.split('.')
      shipped[section][field] = type(shipped[section][field])(value)
  assert recipe.to_dict() == shipped.to_dict()


def test_the_v7_members_sittings_set_declared_fields():
  v7 = importlib.import_module('configs.theta_d_v7')
  for beta, sittings in v7.SITTINGS.items():
    c = v7.get_config(f'beta{beta}')
    for sitting in sittings:
      assert all(a.startswith('--config.') for a in sitting.split())
      fields = [a.removeprefix('--config.').split('=', 1) for a in sitting.split()]
      configuration.with_fields(c, {k: type(c[k.split('.')[0]][k.split('.')[1]])(v)
                                    for k, v in fields})  # each field exists and takes v


def test_overrides_are_checked_against_the_fields_type():
  c = base.adapting()
  assert configuration.with_fields(c, {'adapt.groups': ('g_s',)}).adapt.groups == ('g_s',)
  with pytest.raises(errors.ConfigError, match='no field'):
    configuration.with_fields(c, {'adapt.nosuch': 1})
  with pytest.raises(errors.ConfigError, match='adapt.steps'):
    configuration.with_fields(c, {'adapt.steps': 'many'})


def test_the_codecs_flags_are_config_fields():
  c = base.adapting()
  fields = [f for fs in codec.COMPRESS_FIELDS.values() for f in fs]
  assert configuration.with_fields(c, {f: c[f.split('.')[0]][f.split('.')[1]] if '.' in f
                                       else c[f] for f in fields}).to_dict() == c.to_dict()


def test_a_script_takes_tuples_on_the_command_line(tmp_path):
  script = tmp_path / 'show.py'
  script.write_text(
      'from absl import app, flags\nfrom rdm import configuration as c\n'
      "c.define_config_flag('xiph_beta.py')\n"
      'app.run(lambda _: print(flags.FLAGS.config.adapt.groups, '
      'flags.FLAGS.config.adapt.leaf_priors, c.overrides()), flags_parser=c.parse_flags)\n')
  result = run_python([str(script), '--config.adapt.groups=("g_s", "h_s")',
                       '--config.adapt.leaf_priors=((1, 2),)'], env={'PYTHONPATH': str(ROOT)})
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split('\n')[0] == (
      "('g_s', 'h_s') ((1, 2),) {'adapt.groups': ('g_s', 'h_s'), 'adapt.leaf_priors': ((1, 2),)}")
  bad = run_python(['experiments/sweep.py', '--out', str(tmp_path / 'x.jsonl'),
                    '--config.adapt.nosuch=1'])
  assert bad.returncode == 2 and bad.stderr.strip().startswith('error: ')
  assert "'nosuch'" in bad.stderr and 'Traceback' not in bad.stderr


def test_a_v7_member_continues_its_shipped_neighbour_and_names_the_members_otherwise():
  v7 = importlib.import_module('configs.theta_d_v7')
  wide = v7.get_config('beta0.5')
  assert wide.train.init_from == 'msh-n64-beta8' and wide.loss.beta == 0.5
  assert v7.get_config('beta4096').train.init_from == 'msh-n64-beta512'
  assert all(v7.get_config(f'beta{b:g}').train.init_from in zoo.available()
             for b in v7.NEIGHBOUR), 'a member continues a model this checkout does not ship'
  assert (wide.model.N, wide.model.M) == (96, 144) and v7.get_config('beta2').model.N == 64
  assert (v7.name(0.5), v7.workdir(0.5)) == ('msh-n96-beta0.5', 'runs/ladder7-b0.5-n96')
  assert (v7.name(8), v7.workdir(8)) == ('msh-n64-beta8', 'runs/ladder7-b8')
  assert v7.get_config('beta512').train.init_from == v7.BASE
  for part in ('beta3', 'betax', 'beta'):
    with pytest.raises(ValueError, match='members: beta32, beta8, beta2, beta0.5'):
      v7.get_config(part)
