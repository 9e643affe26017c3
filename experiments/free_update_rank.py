"""How low-rank is the free update? g_s's kernels as a finetuning without M changes them (RQ2's
no-M point), each truncated to rank r, and how much of the update's value each truncation keeps:
whether an update of few dimensions (factors of each kernel) could carry the dense change.

    python experiments/free_update_rank.py --video bikes --beta 128 --workdir <RQ2's no-M point> \
        [--step 200] [--ranks 1,2,4,8,16,32] [--out experiments/results/rank-....json]

Each kernel (kh, kw, C_in, C_out) is read as a matrix in two ways: (kh·kw·C_in) × C_out ('out')
and C_in × (kh·kw·C_out) ('in'); a rank-r factorisation holds r·(rows + columns) numbers. The
value of an update is how far it lowers L_RDM below δ̂ = 0, estimated (rounded latents, the
model's bits, the update's own bits left out) with the run's encoder; every truncation keeps
g_s's biases and GDN whole and leaves h_s and the z prior at θ_D.
"""
import argparse
import json
import pathlib

import numpy as np

from configs import rq
from rdm import checkpoint, configuration, data, finetune, losses, model_update, prune, zoo


def truncated(kernel: np.ndarray, rank: int, layout: str) -> tuple[np.ndarray, int, float]:
  """The best rank-`rank` approximation of a conv kernel read as a matrix by `layout`, the
  numbers its factors hold, and the share of the kernel's energy (squared norm) it keeps."""
  kh, kw, c_in, c_out = kernel.shape
  to_matrix = (0, 1, 2, 3) if layout == 'out' else (2, 0, 1, 3)
  matrix = kernel.transpose(to_matrix).reshape(-1, c_out if layout == 'out' else kh * kw * c_out)
  u, s, vt = np.linalg.svd(matrix, full_matrices=False)
  approx = (u[:, :rank] * s[:rank]) @ vt[:rank]
  shape = [kernel.shape[a] for a in to_matrix]
  back = approx.reshape(shape).transpose(np.argsort(to_matrix))
  energy = float(np.sum(s[:rank] ** 2) / np.sum(s ** 2)) if s.any() else 1.0
  return back, rank * sum(matrix.shape), energy


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--video', default='bikes')
  p.add_argument('--beta', type=float, default=128.0)
  p.add_argument('--workdir', type=pathlib.Path, required=True)
  p.add_argument('--step', type=int, default=200, help='the joint-phase candidate to read')
  p.add_argument('--ranks', default='1,2,4,8,16,32')
  p.add_argument('--out', type=pathlib.Path)
  args = p.parse_args()
  model = zoo.ladder_model(args.beta, '')
  config = configuration.adaptation(rq.get_config(), args.video, 'full', args.beta, model)
  theta_d = zoo.load_global_model(model)
  frames = data.read_iframes(args.video, config.data.fps, config.data.max_frames or None)
  template = finetune.joint_vars(theta_d.params, config.adapt.groups)
  [(_, train_vars)] = checkpoint.load_candidates(args.workdir / 'joint', template, [args.step])
  delta_hat = {n: np.asarray(d) for n, d in
               model_update.quantize(train_vars['delta'], config.adapt.t).items()}
  encoder_params = {**theta_d.params, **train_vars['encoder']}
  zero = {n: np.zeros_like(d) for n, d in delta_hat.items()}
  batches = prune.valuation_batches(frames)
  latents = [losses.analyze(theta_d.arch, encoder_params, x) for x in batches]

  def loss(delta):
    params = model_update.apply_update(encoder_params, {**zero, **delta})
    return prune.estimated_loss(theta_d.arch, params, batches, latents, args.beta, 0.0,
                                int(np.prod(frames.shape[:3])))

  g_s = {n: d for n, d in delta_hat.items() if n.startswith('g_s')}
  nonzero = {n: int((d != 0).sum()) for n, d in g_s.items()}
  kernels = [n for n in g_s if n.endswith('kernel')]
  l_zero, l_gs = loss({}), loss(g_s)
  rows = [{'update': 'none', 'L_rdm_est': l_zero}, {'update': 'all', 'L_rdm_est': loss(delta_hat)},
          {'update': 'g_s', 'L_rdm_est': l_gs, 'numbers': sum(nonzero.values())}]
  for layout in ('out', 'in'):
    for rank in (int(r) for r in args.ranks.split(',')):
      parts = {n: truncated(g_s[n], rank, layout) for n in kernels}
      l_r = loss({**g_s, **{n: part[0] for n, part in parts.items()}})
      rows.append({'update': f'g_s rank {rank} ({layout})', 'L_rdm_est': l_r,
                   'numbers': sum(part[1] for part in parts.values()),
                   'energy': {n: round(part[2], 3) for n, part in parts.items()}})
  for row in rows:
    row['value_kept'] = (l_zero - row['L_rdm_est']) / (l_zero - l_gs)
    print(json.dumps(row))
  out = args.out or pathlib.Path(
      f'experiments/results/rank-{data.clip_name(args.video)}-b{args.beta:g}.json')
  out.write_text(json.dumps({'workdir': str(args.workdir), 'step': args.step,
                             'nonzero': nonzero,
                             'rows': rows}, indent=1))
  print(f'→ {out}')


if __name__ == '__main__':
  main()
