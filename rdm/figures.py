"""How rdm's figures are drawn and finished (the main job's RD plot, the experiments' plots):
matplotlib without a display, loaded only when a figure is drawn."""
import pathlib


def subplots(*args, **kwargs):
  """(fig, axes) from matplotlib's Agg backend."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  return plt.subplots(*args, **kwargs)


def label(ax, xlabel: str, ylabel: str, legend_size=None) -> None:
  """Axis labels, a light grid and a legend."""
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=legend_size)


def save(fig, out: pathlib.Path | str) -> None:
  """Write the figure as a PNG, close it and say where it went."""
  import matplotlib.pyplot as plt
  fig.tight_layout()
  fig.savefig(out, dpi=120)
  plt.close(fig)
  print(f'→ {out}')
