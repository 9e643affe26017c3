"""What the main job prints and draws: the result table and the RD plot."""
import pathlib


def format_table(rows: dict) -> str:
  head = f'{"":<26}{"latent":>9}{"model":>9}{"header":>9}{"total":>9}{"PSNR":>8}{"L_RDM":>9}'
  lines = [head, f'{"":<26}{"(bpp, real bytes)":>36}{"":>9}{"dB":>8}{"coded":>9}']
  for name, r in rows.items():
    lines.append(f'{name:<26}{r["bpp_latent"]:>9.4f}{r["bpp_model"]:>9.4f}'
                 f'{r["bpp_header"]:>9.4f}{r["bpp_total"]:>9.4f}{r["psnr"]:>8.2f}{r["L_rdm_coded"]:>9.2f}')
  return '\n'.join(lines)


def plot_rd(path: pathlib.Path, points: dict, curves: dict, title: str) -> None:
  """points: {label: summary} of this run; curves: {label: [{'bpp', 'psnr'}, ...]} (anchors,
  shipped models)."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(7, 5))
  for label, curve in curves.items():
    curve = sorted(curve, key=lambda p: p['bpp'])
    ax.plot([p['bpp'] for p in curve], [p['psnr'] for p in curve], 'o-', markersize=3,
            label=label)
  for label, r in points.items():
    ax.plot(r['bpp_total'], r['psnr'], 's', markersize=9, label=label)
  ax.set_xlabel('bits per pixel (real bytes)')
  ax.set_ylabel('PSNR (dB, RGB)')
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
