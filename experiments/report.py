"""BD metrics and RD plots from sweep JSON lines, with the classical codecs on the same frames.

    python experiments/report.py experiments/results/rq1-bikes.jsonl [--anchor encoder]
        [--with another-sweep.jsonl]

The anchor is a mode of the sweep (none, encoder, ...) or a classical codec (jpeg, webp, ...);
--psnr_at 0.36 also prints every curve's PSNR at 0.36 bpp (log-rate interpolation). --free noM
adds the curve <label>-free of the points labelled full-noM: each run's last joint iterate with its
update's bits left out, i.e. what that update would buy were it sent for free (trained without M,
the most any code of δ̂ could keep of it at that finetuning).

Prints BD-PSNR (dB) and BD-rate (%) of each curve against the anchor (bjontegaard package,
Akima interpolation) and writes <file>.png next to the input. Classical codecs come from
experiments/results/anchors-<video>.jsonl (experiments/anchors.py), or JPEG alone when absent;
both code the 2 fps I-frames, so a sweep sampled at another rate (data.fps) is shown without them.
"""
import argparse
import collections
import json
import pathlib

import bjontegaard as bd
import numpy as np

from rdm import baselines, data, figures


def last_joint_without_update(record: dict) -> tuple[float, float]:
  """(bpp, psnr) of a full run's last joint iterate (not its pruned copy), its update unpaid."""
  joint = [c for c in record['candidates'] if c['phase'] == 'joint' and not c['pruned']]
  last = max(joint, key=lambda c: c['step'])
  return last['bpp_total'] - last['bpp_model'], last['psnr']


def curves(records: list, free: tuple = ()) -> dict:
  """{label: sorted [(bpp, psnr)]} with label = mode (+ tag). Without sweep points of mode
  none, θ_D's own stream (the candidate encoder@0 every finetuning run codes) gives them. For
  the tags in free, also <label>-free: last_joint_without_update of each point."""
  out = collections.defaultdict(list)
  unadapted = {}
  for r in records:
    label = r['mode'] + (f'-{r["tag"]}' if r.get('tag') else '')
    out[label].append((r['bpp_total'], r['psnr']))
    if r.get('tag') in free and r['mode'] == 'full':
      out[f'{label}-free'].append(last_joint_without_update(r))
    for c in r.get('candidates', []):
      if c['phase'] == 'encoder' and c['step'] == 0:
        unadapted[r['beta']] = (c['bpp_total'], c['psnr'])
  if 'none' not in out and unadapted:
    out['none'] = list(unadapted.values())
  return {k: sorted(v) for k, v in out.items()}


def sampling_rates(records: list) -> set:
  """The I-frame rates (fps) of a sweep file's points."""
  return {r.get('overrides', {}).get('data.fps', data.IFRAME_FPS) for r in records}


def classical_curves(video: str) -> dict:
  """{codec: sorted [(bpp, psnr)]} measured by experiments/anchors.py on the same I-frames."""
  path = (pathlib.Path(__file__).resolve().parent / 'results' /
          f'anchors-{data.clip_name(video)}.jsonl')
  if not path.exists():
    return {'jpeg': sorted((q['bpp'], q['psnr'])
                           for q in baselines.jpeg_curve(data.read_iframes(video)))}
  out = collections.defaultdict(list)
  for r in map(json.loads, path.read_text().splitlines()):
    out[r['codec']].append((r['bpp'], r['psnr']))
  return {k: sorted(v) for k, v in out.items()}


def bd_metric(fn, anchor, test) -> float:
  """A bjontegaard metric, or nan where a curve is not monotone (the interpolation needs it) or
  the curves do not overlap."""
  ra, da = zip(*anchor)
  rt, dt = zip(*test)
  try:
    return fn(ra, da, rt, dt, method='akima', require_matching_points=False, min_overlap=0.0)
  except ValueError:
    return float('nan')


def psnr_at(points, bpp: float) -> float:
  """PSNR of a curve at a rate, linear in log-rate; nan outside the curve's rates."""
  rates, psnrs = zip(*points)
  if not rates[0] <= bpp <= rates[-1]:
    return float('nan')
  return float(np.interp(np.log(bpp), np.log(rates), psnrs))


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('files', nargs='+', type=pathlib.Path)
  p.add_argument('--anchor', default='encoder')
  p.add_argument('--with', dest='extra', type=pathlib.Path, nargs='*', default=[],
                 help="sweeps whose points join each file's curves (an anchor measured apart)")
  p.add_argument('--psnr_at', type=float, nargs='*', default=[],
                 help='also print every curve\'s PSNR at these rates (bpp)')
  p.add_argument('--free', nargs='*', default=[],
                 help='tags of full runs whose last joint iterate to show without its update bits')
  args = p.parse_args()
  shared = [json.loads(line) for path in args.extra for line in path.read_text().splitlines()]
  for path in args.files:
    records = [json.loads(line) for line in path.read_text().splitlines()] + shared
    c = curves(records, tuple(args.free))
    video = records[0]['video']
    rates = sampling_rates(records)
    # experiments/anchors.py and the JPEG fallback code the I-frames at read_iframes' default rate
    classical = classical_curves(video) if rates == {data.IFRAME_FPS} else {}
    if not classical:
      print(f'{path.name}: classical codecs left out (they code the '
            f'{data.IFRAME_FPS:g} fps I-frames)')
    c_all = {**c, **classical}
    print(f'{path.name} ({video}): BD vs {args.anchor}')
    for label, pts in c_all.items():
      anchor = c_all.get(args.anchor, [])
      if label != args.anchor and len(pts) >= 2 and len(anchor) >= 2:
        psnr = bd_metric(bd.bd_psnr, anchor, pts)
        rate = bd_metric(bd.bd_rate, anchor, pts)
        why = '  (nan: a curve not monotone, or no overlap)' if np.isnan([psnr, rate]).any() else ''
        print(f'  {label:<16} BD-PSNR {psnr:+.2f} dB   BD-rate {rate:+.1f} %{why}')
    for bpp in args.psnr_at:
      print(f'  PSNR at {bpp:g} bpp: ' + ', '.join(f'{label} {psnr_at(pts, bpp):.2f}'
                                                  for label, pts in c_all.items()))
    fig, ax = figures.subplots(figsize=(6.5, 4.5))
    for label, pts in c_all.items():
      x, y = zip(*pts)
      ax.plot(x, y, '.--' if label in classical else 'o-', label=label)
    ax.set_title(f'{video}: {", ".join(f"{r:g}" for r in sorted(rates))} fps I-frames')
    ax.set_xlim(0, 1.2 * max(p[0] for label, v in c.items() for p in v))
    figures.label(ax, 'bits per pixel (real bytes, update included)',
                  'PSNR (dB, RGB, mean over I-frames)', fontsize=7, ncol=2)
    figures.write(fig, path.with_suffix('.png'))
    print(f'  → {path.with_suffix(".png")}')


if __name__ == '__main__':
  main()
