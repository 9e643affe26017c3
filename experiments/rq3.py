"""RQ3: where the model update goes — per parameter group of δ̂ and the split of the bits.

    python experiments/rq3.py --video bikes --beta 128 [--config.adapt.joint_steps=400]
        [--out experiments/results/rq3-bikes-b128.json] [--workdir W [--encoder_workdir E]]

Finetunes in full mode (current defaults; --workdir: resumes, or reuses, a finished run such as a
sweep point's), codes the stream, and reports for every leaf group of δ̂ (each layer of
g_s and h_s, the z prior; kernels, biases and GDN parameters apart): parameters, fraction
non-zero, the prior it is coded under, coded bits (flag + prior index + its table), mean |δ̂|,
and what the leaf's δ̂ is worth: the rise in L_RDM when it alone is reset to θ_D, with the
written encoder (it co-adapted with δ̂, so this is the leaf's marginal value at the written
point, not its value alone); then header / update / z / y bits. Writes --out (default
experiments/results/rq3-<video>-b<beta>.json).
"""
import json
import pathlib
import tempfile

from absl import app
from absl import flags
import numpy as np

from rdm import (checkpoint, configuration, container, data, finetune, model_prior,
                 model_update, pipeline, prune, stream)

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line (defined only when run, so tests may import this module)."""
  configuration.define_config_flag('rq.py')
  flags.DEFINE_string('video', 'bikes', 'a video file or a bundled clip name')
  flags.DEFINE_float('beta', 128.0, 'β')
  flags.DEFINE_string('model', 'msh-n64-beta128', 'θ_D')
  flags.DEFINE_string('out', None, 'the report (default: experiments/results/'
                      'rq3-<video>-b<beta>.json)')
  flags.DEFINE_string('workdir', None, 'finetuning checkpoints (default: temporary)')
  flags.DEFINE_string('encoder_workdir', None, "the encoder phase's, if elsewhere")


def channel_flag_bits(prior: model_prior.SpikeSlab, k: np.ndarray) -> float:
  """A leaf's bits if an opened kernel also carried one flag per output channel (last axis) and
  only its opened channels were coded: what finer signalling would save (not the format)."""
  if not k.any():
    return 1.0
  if k.ndim < 2:
    return 1.0 + model_update.ideal_symbol_bits(prior, k)
  channels = k.reshape(-1, k.shape[-1])
  opened = channels.any(axis=0)
  return 1.0 + channels.shape[1] + model_update.ideal_symbol_bits(prior, channels[:, opened])


def written_train_vars(config, theta_d, workdir: pathlib.Path, written: dict):
  """The finetuned encoder and δ of the joint-phase candidate a summary names, from its
  checkpoint."""
  template = finetune.joint_vars(theta_d.params, config.adapt.groups)
  [(_, train_vars)] = checkpoint.load_candidates(workdir / written['phase'], template,
                                                [written['step']])
  return train_vars


def group_stats(update: model_update.ModelUpdate) -> list[dict]:
  """Per leaf of δ̂: size, fraction changed, what its part of the section costs (one flag per
  leaf, as coded; and with per-channel flags), mean |δ̂|."""
  rows, priors = [], update.priors
  for name, k, changed in zip(update.names, update.k, update.changed()):
    # an unchanged leaf is not coded at all, only flagged; an opened one names its prior
    index = model_update.cheapest_prior(priors, k)
    prior = priors.priors[index]
    rows.append({'group': name, 'params': int(k.size), 'nonzero': float(np.mean(k != 0)),
                 'prior': f'{prior.alpha:g}:{prior.sigma_slab:g}' if changed else '',
                 'bits': 1 + (priors.index_bits + model_update.ideal_symbol_bits(prior, k)
                              if changed else 0.0),
                 'bits_channel_flags': priors.index_bits * changed + channel_flag_bits(prior, k),
                 'mean_abs_delta': float(np.mean(np.abs(k))) * priors.t})
  return rows


def main(argv):
  del argv
  config = configuration.adaptation(FLAGS.config, FLAGS.video, 'full', FLAGS.beta, FLAGS.model)
  frames = data.read_iframes(FLAGS.video, config.data.fps, config.data.max_frames or None)
  theta_d = pipeline.zoo.load_global_model(FLAGS.model)
  encoder_workdir = FLAGS.encoder_workdir and pathlib.Path(FLAGS.encoder_workdir)
  with tempfile.TemporaryDirectory() as work:
    workdir = pathlib.Path(FLAGS.workdir or work)
    result = pipeline.encode_video(config, frames, workdir, theta_d,
                                   encoder_workdir=encoder_workdir)
    payload = container.read(result.encoded.data).update
    if not payload:
      print(f'the stream written ({result.summary["label"]}) carries no update: nothing to split')
      return
    update = stream.unpack_update(payload, theta_d.params)
    train_vars = written_train_vars(config, theta_d, workdir, result.summary)
  pixels = int(np.prod(frames.shape[:3]))
  values = prune.leaf_values(theta_d.arch, {**theta_d.params, **train_vars['encoder']}, update,
                             frames, config.loss.beta)
  # net_value: what L_RDM rises by without the leaf's δ̂, its bits saved included (> 0: the leaf
  # pays for itself); price: what its bits add to L_RDM
  rows = [{**r, 'net_value': values.get(r['group'], 0.0),
           'price': config.loss.beta * r['bits'] / pixels} for r in group_stats(update)]
  print(f'{"group":<40}{"params":>9}{"nonzero":>9}{"prior":>12}{"bits":>10}{"chan.flags":>11}'
        f'{"mean|δ̂|":>11}{"net":>9}{"price":>8}')
  for r in rows:
    print(f'{r["group"]:<40}{r["params"]:>9}{r["nonzero"]:>9.4f}{r["prior"]:>12}'
          f'{r["bits"]:>10.0f}'
          f'{r["bits_channel_flags"]:>11.0f}{r["mean_abs_delta"]:>11.2e}{r["net_value"]:>9.3f}'
          f'{r["price"]:>8.3f}')
  leaf_bits, channel_bits = (sum(r[k] for r in rows) for k in ('bits', 'bits_channel_flags'))
  print(f'leaves: {leaf_bits:.0f} bits with a flag per leaf, {channel_bits:.0f} with flags per '
        f'output channel ({100 * (channel_bits / leaf_bits - 1):+.1f} %)')
  split = {k: 8 * v for k, v in result.encoded.sizes.items()}
  total = sum(split.values())
  print('bits: ' + ', '.join(f'{k} {v} ({100 * v / total:.1f}%)' for k, v in split.items()) +
        f'; {8 * len(result.encoded.data) / pixels:.4f} bpp over {pixels} pixels '
        f'({result.summary["label"]})')
  out = pathlib.Path(FLAGS.out or pathlib.Path(__file__).resolve().parent / 'results' /
                     f'rq3-{data.clip_name(FLAGS.video)}-b{FLAGS.beta:g}.json')
  out.write_text(json.dumps({'config': json.loads(config.to_json()), 'groups': rows,
                             'bits_split': split, 'pixels': pixels,
                             'label': result.summary['label']}, indent=1) + '\n')
  print(f'→ {out}')


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=configuration.parse_flags)
