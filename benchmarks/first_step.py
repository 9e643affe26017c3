"""Seconds to each finetuning phase's first step (mostly XLA compilation) and what XLA prints.

    python benchmarks/first_step.py    # bikes, 2 I-frames, one step per phase, msh-n64-beta128
"""
import pathlib
import tempfile

from configs import xiph_beta
from rdm import configuration, data, finetune, zoo


def main():
  frames = data.read_iframes('bikes', 2.0, 2)
  theta_d = zoo.load_global_model('msh-n64-beta128')
  config = configuration.with_fields(xiph_beta.get_config(), {
      'adapt.steps': 1, 'adapt.joint_steps': 1, 'adapt.candidates': 1, 'adapt.log_every': 1})
  with tempfile.TemporaryDirectory() as workdir:
    history = finetune.adapt(config, theta_d.arch, theta_d.params, frames,
                             pathlib.Path(workdir)).history
  for h in history:
    print(f'{h["phase"]} phase: first step after {h["time_s"]:.1f} s')


if __name__ == '__main__':
  main()
