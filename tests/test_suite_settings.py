"""The suite's own settings (tests/conftest.py): what its subprocesses compile with."""
import jax
import pytest

from conftest import run_python

READ_FLAG = ['-c', 'import jax; print(jax.config.read("jax_disable_most_optimizations"))']


def test_the_suite_compiles_without_most_optimizations():
  if not jax.config.read('jax_disable_most_optimizations'):
    pytest.skip('JAX_DISABLE_MOST_OPTIMIZATIONS=0: the whole suite runs optimized')
  assert run_python(READ_FLAG).stdout.strip() == 'True'


@pytest.mark.optimized
def test_subprocesses_of_an_optimized_test_compile_as_users_do():
  assert run_python(READ_FLAG).stdout.strip() == 'False'
