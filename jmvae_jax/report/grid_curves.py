"""Learning curves of a grid of runs against the paper's numbers, in one PNG.

Each run of the tables grid records cheap test bounds every
``Config.curve_every`` epochs in its metrics.jsonl ('curve_*': k =
``curve_k`` importance samples on the first ``curve_examples`` test images;
see ``evaluation.curve_bounds``). ``curves_figure`` draws one panel per row of
the tables: the row's main bound (the multiple marginal bound, Eq. 6, for
JMVAE; the single one, Eq. 7, for the VAE; the multiple conditional bound,
Eq. 8, for CVAE and CMMA) and, where the model has it, the joint bound
(Table 3), each with the paper's number as a dashed line of its colour.

The curve bounds use fewer samples and images than the tables (k = 1000 on
all 10,000 test images), so they sit somewhat below the final numbers: they
show convergence, the tables give the result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from jmvae_jax.report import summaries
from jmvae_jax.training.workdir import is_number

# The curve metrics drawn for each model, in order.
CURVE_KEYS = {
    'vae': ('marginal_single',),
    'cvae': ('conditional_multiple',),
    'cmma': ('conditional_multiple',),
    'jmvae_zero': ('marginal_multiple', 'joint'),
    'jmvae_kl': ('marginal_multiple', 'joint'),
}
_COLOURS = ('tab:blue', 'tab:orange')
_DPI = 100


def read_curves(workdir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """{results key: (epochs [T], values [T])} of WORKDIR's 'curve_*' records.

  Empty when the run has no metrics.jsonl or recorded no curve yet.
  """
  series: dict[str, tuple[list[int], list[float]]] = {}
  for record in summaries.read_metrics(workdir):
    for name, value in record.items():
      if name.startswith('curve_') and is_number(value):
        epochs, values = series.setdefault(name[len('curve_'):], ([], []))
        epochs.append(int(record['epoch']))
        values.append(float(value))
  return {name: (np.array(e), np.array(v)) for name, (e, v) in series.items()}


def _y_limits(panel: Sequence[tuple[np.ndarray, float | None]]
              ) -> tuple[float, float] | None:
  """Room for the paper's lines and the later part of each curve, so that the
  first epochs' low bounds do not squash the rest."""
  papers = [paper for _, paper in panel if paper is not None]
  tails = [values[len(values) // 2:] for values, _ in panel if len(values)]
  if not tails:
    return None
  low = min([float(np.min(t)) for t in tails] + papers)
  high = max([float(np.max(v)) for v, _ in panel if len(v)] + papers)
  return low - 3.0, high + 1.0


def curves_figure(rows: Sequence[tuple[str, str, Mapping[str, tuple[
                      np.ndarray, np.ndarray]]]],
                  paper: Mapping[str, Mapping[str, float]],
                  path: str | os.PathLike, *, title: str,
                  columns: int = 4) -> str:
  """Writes one panel per row: its curves and the paper's dashed lines.

  With n panels, the PNG is 330 ``columns`` pixels wide and
  280 ceil(n / columns) + 60 high; panel i (row r, column c) has its axes in
  the 250 x 190 pixels at left = 330 c + 60, top = 280 r + 90.

  Args:
    rows: (title, model name, {results key: (epochs [T], values [T])}) per
      panel; the model name picks the curves (``CURVE_KEYS``).
    paper: the paper's numbers by panel title and results key, e.g.
      paper['JMVAE-kl, alpha=0.1']['joint'] = -86.93.
    path: the PNG to write.
    title: the figure's title.
    columns: panels per row of the figure.

  Returns:
    ``path``.
  """
  grid_rows = max(1, math.ceil(len(rows) / columns))
  width, height = 330 * columns, 280 * grid_rows + 60
  figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
  figure.suptitle(title, fontsize=10, y=1 - 8 / height, va='top')
  for i, (name, model, series) in enumerate(rows):
    r, c = divmod(i, columns)
    axes = figure.add_axes(((330 * c + 60) / width,
                            1 - (280 * r + 90 + 190) / height,
                            250 / width, 190 / height))
    drawn = []
    for key, colour in zip(CURVE_KEYS.get(model, ()), _COLOURS):
      epochs, values = series.get(key, (np.zeros(0), np.zeros(0)))
      number = paper.get(name, {}).get(key)
      if len(values):
        axes.plot(epochs, values, color=colour, marker='.', markersize=3,
                  linewidth=1, label=key)
      if number is not None:
        axes.axhline(number, color=colour, linestyle='--', linewidth=1,
                     label=f'paper {number:g}')
      drawn.append((values, number))
    limits = _y_limits(drawn)
    if limits is not None:
      axes.set_ylim(*limits)
    if not any(len(values) for values, _ in drawn):
      axes.text(0.5, 0.5, 'no curve yet', ha='center', va='center',
                transform=axes.transAxes, fontsize=8, color='grey')
    axes.set_title(name, fontsize=9)
    axes.set_xlabel('epoch', fontsize=8)
    axes.set_ylabel('nats', fontsize=8)
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=6, loc='lower right')
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  figure.savefig(os.fspath(path), dpi=_DPI)
  return os.fspath(path)
