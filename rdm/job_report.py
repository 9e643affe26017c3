"""What the main job prints and draws: the result table and the RD plot."""
import pathlib

from rdm import figures


def format_table(rows: dict) -> str:
  head = f'{"":<26}{"latent":>9}{"model":>9}{"header":>9}{"total":>9}{"PSNR":>8}{"L_RDM":>9}'
  lines = [head, f'{"":<26}{"(bpp, real bytes)":>36}{"":>9}{"dB":>8}{"coded":>9}']
  for name, r in rows.items():
    lines.append(f'{name:<26}{r["bpp_latent"]:>9.4f}{r["bpp_model"]:>9.4f}'
                 f'{r["bpp_header"]:>9.4f}{r["bpp_total"]:>9.4f}{r["psnr"]:>8.2f}{r["L_rdm_coded"]:>9.2f}')
  return '\n'.join(lines)


def zoom_window(points: dict, margin: float = 0.35) -> tuple:
  """(bpp_lo, bpp_hi, psnr_lo, psnr_hi) around the operating points, with a margin of their spread
  (at least 2 % of the rate and 0.1 dB, so that three points a hair apart still get a window)."""
  bpp = [r['bpp_total'] for r in points.values()]
  psnr = [r['psnr'] for r in points.values()]
  db = max(max(bpp) - min(bpp), 0.02 * max(bpp)) * (0.5 + margin)
  dp = max(max(psnr) - min(psnr), 0.1) * (0.5 + margin)
  mid_b, mid_p = (max(bpp) + min(bpp)) / 2, (max(psnr) + min(psnr)) / 2
  return mid_b - db, mid_b + db, mid_p - dp, mid_p + dp


def difference_label(r: dict, reference: dict) -> str:
  """ΔL_RDM and Δbpp of an operating point against the reference (the unadapted θ_D)."""
  d_bpp = 100 * (r['bpp_total'] / reference['bpp_total'] - 1)
  return (f'ΔL_RDM {r["L_rdm_coded"] - reference["L_rdm_coded"]:+.2f}\n'
          f'Δbpp {d_bpp:+.1f} %, ΔPSNR {r["psnr"] - reference["psnr"]:+.2f} dB')


def plot_rd(path: pathlib.Path, points: dict, curves: dict, title: str, reference: str) -> None:
  """points: {label: summary} of this run, points[reference] the one the others are labelled
  against; curves: {label: [{'bpp', 'psnr'}, ...]} (anchors, shipped models). Two panels: the
  whole range, and a zoom around the operating points."""
  fig, axes = figures.subplots(1, 2, figsize=(13, 5.2))
  lo_b, hi_b, lo_p, hi_p = zoom_window(points)
  for ax, zoomed in zip(axes, (False, True)):
    for label, curve in curves.items():
      curve = sorted(curve, key=lambda p: p['bpp'])
      ax.plot([p['bpp'] for p in curve], [p['psnr'] for p in curve], 'o-', markersize=3,
              label=label)
    for i, (label, r) in enumerate(points.items()):
      ax.plot(r['bpp_total'], r['psnr'], 's', markersize=9, label=label, color=f'C{7 + i}')
      if zoomed and label != reference:
        ax.annotate(difference_label(r, points[reference]), (r['bpp_total'], r['psnr']),
                    fontsize=8, xytext=(8, -8), textcoords='offset points')
    ax.set_xlabel('bits per pixel (real bytes)')
    ax.set_ylabel('PSNR (dB, RGB)')
    ax.grid(alpha=0.3)
    if zoomed:
      ax.set_xlim(lo_b, hi_b)
      ax.set_ylim(lo_p, hi_p)
      ax.set_title(f'the operating points (labels: against {reference})', fontsize=10)
    else:
      ax.set_title(title)
      ax.indicate_inset((lo_b, lo_p, hi_b - lo_b, hi_p - lo_p), edgecolor='gray')
      ax.legend(fontsize=8)
  figures.write(fig, path)  # not save: the main job prints its paths together at the end
