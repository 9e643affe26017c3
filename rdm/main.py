"""rdm entry point: python -m rdm.main --config=configs/xiph_beta.py --workdir=DIR."""
import logging as std_logging
import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from rdm import errors

config_flags.DEFINE_config_file('config', None, 'Path to a configs/*.py file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, metrics and results.')
flags.DEFINE_string('coordinator_address', '', 'host:port of process 0 for multi-process runs '
                    '(jax.distributed); empty: a single process.')
flags.DEFINE_integer('num_processes', 1, 'Processes in a multi-process run.')
flags.DEFINE_integer('process_id', 0, 'This process\'s index in a multi-process run.')
flags.mark_flags_as_required(['config', 'workdir'])
FLAGS = flags.FLAGS


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a bad flag or --config override reported as one line, exit 2."""
  try:
    remaining = FLAGS(argv)
    'adapt' in FLAGS.config  # noqa: B015  (a config file that failed to load raises when read)
    return remaining
  except (flags.Error, OSError) as e:  # a bad flag or value; a --config file that is not there
    sys.exit(errors.report(errors.ConfigError(e)))
  except (AttributeError, KeyError) as e:  # ml_collections: a field the config does not have
    field = str(e).strip('"\'')
    sys.exit(errors.report(errors.ConfigError(f'a --config override names {field!r}, which the '
                                              'config does not have')))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  config = FLAGS.config
  # The terminal keeps the progress bars, the result table and the paths written; library
  # logs (orbax, absl, jax) go to <workdir>/rdm.INFO etc.
  pathlib.Path(FLAGS.workdir).mkdir(parents=True, exist_ok=True)
  logging.get_absl_handler().use_absl_log_file('rdm', FLAGS.workdir)
  std_logging.getLogger('jax').setLevel(std_logging.WARNING)  # backend probing, to stderr
  if FLAGS.coordinator_address:
    from rdm import distributed
    distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  logging.info('process %d of %d, devices: %s', jax.process_index(), jax.process_count(),
               jax.local_devices())
  logging.info('config:\n%s', config)
  try:
    if 'train' in config:  # configs/global*.py: base.training()
      from rdm import train
      train.train_and_evaluate(config, FLAGS.workdir)
    elif 'adapt' in config:  # configs/xiph_beta.py: base.adapting()
      from rdm import job
      job.run(config, FLAGS.workdir)
    else:
      raise errors.ConfigError('the config has neither train nor adapt fields (configs/base.py)')
  except errors.UserError as e:
    sys.exit(errors.report(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
