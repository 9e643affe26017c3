"""Several processes (one or many hosts) training one model through jax.distributed.

Every process runs the same command with its own --process_id; process 0's host is the
coordinator. Each process draws the same global batch (crops and noise keys are seeded by
(seed, step)), keeps its own rows and shards them over its local devices; pmean in the step then
spans every device of every process, so N processes take the step one process takes on the
whole batch. Process 0 alone writes logs and outputs; all processes take part in checkpoints.
"""
from absl import flags
import jax
import numpy as np
import orbax.checkpoint  # noqa: F401  (defines the flag set below)

from rdm import errors


def initialize(coordinator_address: str, num_processes: int, process_id: int) -> None:
  """Join the job. On CPU, cross-process collectives need gloo."""
  if num_processes < 1 or not 0 <= process_id < num_processes:
    raise errors.ConfigError(f'process_id must be in [0, {num_processes}), got {process_id}')
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address, num_processes, process_id)
  # orbax's barriers through the coordination service (minutes of patience) rather than a
  # collective: gloo gives a process 30 s to join the first one, and processes reach a checkpoint
  # barrier far apart when only some find their programs compiled in jax's persistent cache
  # (process 0 alone writes it).
  flags.FLAGS.experimental_orbax_use_distributed_barrier = True


def is_primary() -> bool:
  return jax.process_index() == 0


def check_batch_size(batch_size: int) -> None:
  if batch_size % jax.device_count():
    raise errors.ConfigError(f'the batch size {batch_size} must be a multiple of the '
                     f'{jax.device_count()} devices of all processes')


def local_rows(global_batch: np.ndarray) -> np.ndarray:
  """This process's contiguous share of a global batch [B, ...]."""
  n = global_batch.shape[0] // jax.process_count()
  return global_batch[jax.process_index() * n:(jax.process_index() + 1) * n]


def primary_says(value: bool | int) -> bool | int:
  """Process 0's value (a flag or a step) on every process: a decision only process 0 can make
  (it alone evaluates), taken by all so that none waits in a collective the others left."""
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils
  return type(value)(multihost_utils.broadcast_one_to_all(np.asarray(value)))
