"""Fuzz the decoding surface with atheris: container reader, range decoder, model-update decoder.

    pip install atheris
    python experiments/fuzz_decoder.py -atheris_runs=100000 [-max_len=4096]

Seeds come from real .rdm files (a one-frame bikes stream and a tiny-model stream with a model
update). Any exception other than FormatError/CodingError, or an input slower than 1 s, is a
finding (atheris stops and prints it).
"""
import pathlib
import sys
import tempfile
import time

import atheris
import constriction  # noqa: F401  (imported first: coverage covers rdm, not the coder's bindings)

with atheris.instrument_imports(include=['rdm']):
  from rdm import container, range_coding, stream

import jax
import numpy as np

from rdm import coding, model, model_prior, model_update

ARCH = model.Architecture(8, 8)
PARAMS = model.init_params(ARCH, jax.random.PRNGKey(0))
PRIORS = model_prior.LeafPriors.parse(0.005, 1000.0, 0.05, '1:0.005')  # index bits fuzzed too
Y_TABLE = coding.gaussian_table()
INDEXES = np.random.default_rng(0).integers(0, coding.NUM_SCALES, 256).astype(np.int32)


def seeds(folder: pathlib.Path) -> None:
  """Real streams as the corpus: what the fuzzer mutates first."""
  from rdm import data
  frame = data.read_iframes('carphone', max_frames=1)
  raw = stream.encode_frames(shipped_model(), frame).data
  (folder / 'carphone.rdm').write_bytes(raw)
  delta = model_update.init_delta(PARAMS, 'g_s')
  delta = {k: v + PRIORS.t * (np.arange(v.size).reshape(v.shape) % 3 == 0)
           for k, v in delta.items()}
  update = model_update.ModelUpdate.from_delta(delta, PRIORS, 'g_s')
  (folder / 'update.bin').write_bytes(update.to_bytes())


def shipped_model():
  from rdm import zoo
  return zoo.load_global_model(zoo.available()[0])


def test_one(raw: bytes) -> None:
  start = time.time()
  try:
    container.read(raw)
  except container.FormatError:
    pass
  try:
    range_coding.decode(raw, INDEXES, Y_TABLE)
  except range_coding.CodingError:
    pass
  try:
    stream.unpack_update(raw, PARAMS)
  except container.FormatError:
    pass
  if time.time() - start > 1.0:
    raise TimeoutError(f'input of {len(raw)} bytes took {time.time() - start:.2f} s')


def main():
  corpus = pathlib.Path(tempfile.mkdtemp(prefix='rdm-fuzz-'))
  seeds(corpus)
  atheris.Setup(sys.argv + [str(corpus)], test_one)
  atheris.Fuzz()


if __name__ == '__main__':
  main()
