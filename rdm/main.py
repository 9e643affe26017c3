"""rdm entry point: python -m rdm.main --config=configs/xiph_beta.py --workdir=DIR."""
import logging as std_logging
import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
import jax

from rdm import configuration
from rdm import errors

configuration.define_config_flag(None)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, metrics and results.')
flags.DEFINE_string('coordinator_address', '', 'host:port of process 0 for multi-process runs '
                    '(jax.distributed); empty: a single process.')
flags.DEFINE_integer('num_processes', 1, 'Processes in a multi-process run.')
flags.DEFINE_integer('process_id', 0, 'This process\'s index in a multi-process run.')
flags.mark_flags_as_required(['config', 'workdir'])
FLAGS = flags.FLAGS


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
  app.run(main, flags_parser=configuration.parse_flags)
