"""Run by test_train.py in a process with 2 fake CPU devices: one pmap step vs one jit step, and
a second pmapped step that lowers and compiles nothing (the state it returns is laid out as the
replicated state it took: shared/GPU-NOTES.md's second compile)."""
import functools
import sys

import jax
import numpy as np
import optax

from rdm import model, train, trainer

assert jax.local_device_count() == 2, jax.devices()
arch = model.Architecture(8, 8)
tx = optax.adam(1e-3)
loss_fn = functools.partial(train.rd_loss_fn, arch=arch, beta=100.0, rate_mode='noise',
                            decoder_mode='ste')
state = trainer.create_train_state(model.init_params(arch, jax.random.PRNGKey(0)), tx)
x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype(np.float32)
keys = np.asarray(trainer.example_keys(0, 0, 4))

jit_step = jax.jit(functools.partial(trainer.train_step, loss_fn=loss_fn, tx=tx))
jit_state, jit_metrics = jit_step(state, {}, x, keys)

COMPILE_EVENTS = ('/jax/core/compile/jaxpr_to_mlir_module_duration',
                  '/jax/core/compile/backend_compile_duration')
compiles = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **kw: compiles.append(event) if event in COMPILE_EVENTS else None)

p_step = trainer.make_parallel_step(loss_fn, tx)
p_state, p_metrics = p_step(trainer.replicate(state), {}, trainer.shard(x, 2),
                            trainer.shard(keys, 2))
assert compiles, 'the listener saw no compilation at all'
first = trainer.host_state(p_state)
compiles.clear()
jax.block_until_ready(p_step(p_state, {}, trainer.shard(x, 2), trainer.shard(keys, 2)))
assert not compiles, f'the second pmapped step compiled again: {compiles}'
p_state = first

for a, b in zip(jax.tree_util.tree_leaves(jit_state.params),
                jax.tree_util.tree_leaves(p_state.params)):
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(jit_metrics['loss'], p_metrics['loss'][0], rtol=1e-5)
np.testing.assert_allclose(jit_metrics['l2_grads'], p_metrics['l2_grads'][0], rtol=1e-4)
print('PMAP_EQUALS_JIT', float(jit_metrics['loss']))
sys.exit(0)
