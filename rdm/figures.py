"""How rdm's figures are drawn and finished (the main job's RD plot, the experiments' plots):
matplotlib without a display, loaded only when a figure is drawn."""
import pathlib


def subplots(*args, **kwargs):
  """(fig, axes) from matplotlib's Agg backend."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  return plt.subplots(*args, **kwargs)


def label(ax, xlabel: str, ylabel: str, **legend) -> None:
  """Axis labels, a light grid and a legend (legend: matplotlib's legend options)."""
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3)
  ax.legend(**legend)


def write(fig, out: pathlib.Path | str) -> None:
  """Write the figure as a PNG and close it."""
  import matplotlib.pyplot as plt
  fig.tight_layout()
  fig.savefig(out, dpi=120)
  plt.close(fig)


def save(fig, out: pathlib.Path | str) -> None:
  """write(), and say where it went."""
  write(fig, out)
  print(f'→ {out}')
