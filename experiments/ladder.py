"""The shipped ladder against issue 38's targets: span, rate gaps, PSNR rising, convergence.

    python -m experiments.ladder [--curves experiments/results/ladder-curves.png]

Reads every shipped msh-* model's manifest (real-byte RD on the held-out photos and the bundled
clips' 2 fps I-frames, and the held-out curve, both recorded by scripts/export_model.py), prints
the ladder by rate for each clip and says whether it spans ≤ 0.08 to ≥ 1.0 bpp with neighbours at
least 25 % apart in rate and PSNR rising with rate, the PSNR each step gains per doubling of rate
(where the architecture saturates), and which members' held-out L had converged.
It also gives the ladder's BD-PSNR and BD-rate against each classical codec measured on the same
I-frames (experiments/anchors.py; the issue's target: within 2.0 dB of HEVC intra on bikes).
--curves plots those held-out curves (L by step, in % of each member's last value).
"""
import argparse
import math

import bjontegaard as bd

from experiments.report import bd_metric, classical_curves
from rdm import figures, zoo

# The bundled clips: their key in a manifest's RD (the file's name) and the name they are coded by.
CLIPS = {'bikes': 'bikes', 'carphone_pristine': 'carphone'}


def ladder_points(manifests: list[dict], clip: str) -> list[tuple[float, float, str]]:
  """(bpp, PSNR, name) of each member on clip, by rate."""
  return sorted((m['rd_real_bytes'][clip]['bpp_total'], m['rd_real_bytes'][clip]['psnr'],
                 m['name']) for m in manifests if clip in m.get('rd_real_bytes', {}))


def span_checks(points: list[tuple[float, float, str]], low: float = 0.08, high: float = 1.0,
                gap: float = 0.25) -> dict:
  """Issue 38's targets on one clip's points: the span, the smallest rate step between
  neighbours (relative to the lower) and whether PSNR rises with every step."""
  steps = [b[0] / a[0] - 1 for a, b in zip(points, points[1:])]
  return {'lowest_bpp': points[0][0], 'highest_bpp': points[-1][0],
          'spans': points[0][0] <= low and points[-1][0] >= high,
          'smallest_rate_step': min(steps, default=float('inf')),
          'rate_steps_ok': all(s >= gap for s in steps),
          'psnr_rises': all(b[1] > a[1] for a, b in zip(points, points[1:]))}


def db_per_doubling(points: list[tuple[float, float, str]]) -> list[float]:
  """PSNR gained per doubling of rate between neighbours (by rate): where it falls toward 0, the
  architecture saturates (issue 38)."""
  return [(b[1] - a[1]) / math.log2(b[0] / a[0]) for a, b in zip(points, points[1:])]


def against_classical(points: list[tuple[float, float, str]], video: str) -> dict:
  """{codec: (BD-PSNR dB, BD-rate %)} of the ladder's points against each classical codec's curve
  on the video's I-frames (nan where the curves do not overlap)."""
  ladder = [(b, p) for b, p, _ in points]
  return {codec: (bd_metric(bd.bd_psnr, curve, ladder), bd_metric(bd.bd_rate, curve, ladder))
          for codec, curve in classical_curves(video).items()}


def convergence(m: dict) -> str:
  curve = m.get('heldout_curve')
  if not curve:
    return 'no curve recorded'
  step, last = curve['step_L'][-1]
  drop = (f", learning rate dropped at step {curve['lr_drop_at']}"
          if curve.get('lr_drop_at') else '')
  return (f"{'converged' if curve['converged'] else 'NOT converged'} at step {step} (L {last:.2f}; "
          f"window {curve['converge_window']}, tol {curve['converge_tol']}{drop})")


def plot_curves(manifests: list[dict], out: str) -> None:
  fig, ax = figures.subplots(figsize=(7, 4))
  for m in manifests:
    curve = m.get('heldout_curve', {}).get('step_L')
    if curve:
      last = curve[-1][1]
      percent = {s: 100 * (v / last - 1) for s, v in curve}
      line, = ax.plot(list(percent), list(percent.values()), 'o-', ms=3,
                      label=f"{m['name']} (β={m['config']['loss']['beta']:g})")
      drop = m['heldout_curve'].get('lr_drop_at')
      if drop:
        ax.plot([drop], [percent[drop]], 'x', ms=9, mew=2, color=line.get_color())
  ax.plot([], [], 'x', ms=9, mew=2, color='grey', label='learning rate × 0.1 from here')
  ax.axhspan(-0.5, 0.5, color='grey', alpha=0.15, label='±0.5 %')
  figures.label(ax, 'training steps of the member', 'held-out L, % above its last value',
                 fontsize=8)
  figures.save(fig, out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--curves', help='write the held-out curves to this PNG')
  args = parser.parse_args()
  manifests = [zoo.manifest(n) for n in zoo.available() if n.startswith('msh-')]
  for clip, video in CLIPS.items():
    points = ladder_points(manifests, clip)
    print(f'{clip}: ' + ', '.join(f'{n} {b:.4f} bpp {p:.2f} dB' for b, p, n in points))
    print(f'  {span_checks(points)}')
    print('  dB per doubling of rate, step by step: ' + ', '.join(
        f'{g:.2f}' for g in db_per_doubling(points)))
    print('  against: ' + ', '.join(f'{codec} {p:+.2f} dB / {r:+.1f} %' for codec, (p, r) in
                                    against_classical(points, video).items()))
  for m in sorted(manifests, key=lambda m: m['config']['loss']['beta']):
    print(f"{m['name']}: {convergence(m)}")
  if args.curves:
    plot_curves(manifests, args.curves)


if __name__ == '__main__':
  main()
