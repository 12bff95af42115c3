"""Rendering arrays into labelled PNGs: scatter panels, image grids, curves.

Pure NumPy in, one PNG out; no model code. Figures are built on
``matplotlib.figure.Figure`` (no pyplot, no global state) and laid out in whole
pixels, so each PNG's size and the box of each panel's axes follow exactly from
the content (documented per function; boxes are given from the top-left corner).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

DPI = 100
_CELL = 50  # Pixels per image of a grid.
_CLASS_COLOURS = matplotlib.colormaps['tab10']


def _figure(width: int, height: int, title: str) -> Figure:
  """A white figure of width x height pixels, its title 10 px below the top."""
  figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
  figure.suptitle(title, fontsize=10, y=1 - 10 / height, va='top')
  return figure


def _axes(figure: Figure, left: int, top: int, width: int, height: int):
  """Axes filling the box of width x height pixels whose top-left is (left, top)."""
  figure_width, figure_height = figure.bbox.width, figure.bbox.height
  return figure.add_axes((left / figure_width,
                          1 - (top + height) / figure_height,
                          width / figure_width, height / figure_height))


def _save(figure: Figure, path: str | os.PathLike) -> str:
  path = os.fspath(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  figure.savefig(path, dpi=DPI)
  return path


def tile(images: np.ndarray, gap: int = 2, fill: float = 1.0) -> np.ndarray:
  """Lays out a grid of images as one picture, ``gap`` pixels of ``fill`` apart.

  Args:
    images: [R, C, H, W] grey levels or [R, C, H, W, 3] RGB, in [0, 1].
    gap: pixels between neighbours.
    fill: grey level of the gaps.

  Returns:
    [R * (H + gap) - gap, C * (W + gap) - gap] (+ [3] for RGB) in [0, 1].
  """
  rows, cols, height, width = images.shape[:4]
  canvas = np.full((rows * (height + gap) - gap, cols * (width + gap) - gap)
                   + images.shape[4:], fill, np.float32)
  for r in range(rows):
    for c in range(cols):
      top, left = r * (height + gap), c * (width + gap)
      canvas[top:top + height, left:left + width] = images[r, c]
  return canvas


def image_grids(panels: Sequence[tuple[str, np.ndarray]],
                path: str | os.PathLike, *, title: str,
                row_labels: Sequence[str] | None = None,
                label_width: int = 25, cell: int = _CELL) -> str:
  """Writes grids of images side by side, each under its own title.

  Grey images are drawn as black ink on white (MNIST digits), RGB images as
  they are. Panel i of R x C images is ``cell`` C + m_i pixels wide, with a
  left margin m_0 = ``label_width`` for the first panel and m_i = 25 for the
  others, and ``cell`` R + 75 high; the PNG is the panels' total width by the
  tallest panel's height H. The images of panel i fill the box of ``cell`` C x
  ``cell`` R pixels at left = (the widths of the panels before it) + m_i,
  top = H - 5 - ``cell`` R.

  Args:
    panels: (title, images [R, C, H, W] grey or [R, C, H, W, 3] RGB, in
      [0, 1]) per panel.
    path: the PNG to write.
    title: the figure's title (above all panels).
    row_labels: R labels written left of the first panel's rows, or None.
    label_width: the first panel's left margin, room for its row labels.
    cell: pixels per image.

  Returns:
    ``path``.
  """
  margins = [label_width] + [25] * (len(panels) - 1)
  widths = [cell * images.shape[1] + margin
            for (_, images), margin in zip(panels, margins)]
  height = max(cell * images.shape[0] + 75 for _, images in panels)
  figure = _figure(sum(widths), height, title)
  left = 0
  for i, ((name, images), width) in enumerate(zip(panels, widths)):
    rows, cols = images.shape[:2]
    axes = _axes(figure, left + margins[i], height - 5 - cell * rows,
                 cell * cols, cell * rows)
    # Digits as black ink on white, white gaps; colour images as they are.
    picture = tile(images if images.ndim == 5 else 1 - images)
    axes.imshow(picture, cmap='gray', vmin=0, vmax=1, aspect='auto',
                interpolation='nearest')
    axes.set_title(name, fontsize=8)
    axes.set_xticks([])
    if row_labels is None or i > 0:
      axes.set_yticks([])
    else:
      step = picture.shape[0] / rows
      axes.set_yticks([step * (r + 0.5) for r in range(rows)], row_labels,
                      fontsize=7)
      axes.tick_params(axis='y', length=0, pad=2)
    left += width
  return _save(figure, path)


def embeddings(panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
               path: str | os.PathLike, *, title: str,
               num_classes: int = 10) -> str:
  """Writes 2-d embeddings side by side as scatter plots coloured by class.

  The PNG is 400 n + 100 pixels wide (n panels and a legend) and 450 high;
  panel i's axes fill the 350 x 350 pixels at left = 400 i + 25, top = 75.

  Args:
    panels: (title, points [N, 2], classes int [N]) per panel.
    path: the PNG to write.
    title: the figure's title.
    num_classes: classes in the legend (at most 10, the colours of 'tab10').

  Returns:
    ``path``.
  """
  figure = _figure(400 * len(panels) + 100, 450, title)
  for i, (name, points, classes) in enumerate(panels):
    axes = _axes(figure, 400 * i + 25, 75, 350, 350)
    axes.scatter(points[:, 0], points[:, 1], color=_CLASS_COLOURS(classes),
                 s=4, linewidths=0)
    axes.set_title(name, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])
  handles = [Line2D([], [], color=_CLASS_COLOURS(c), marker='o', markersize=4,
                    linestyle='', label=str(c)) for c in range(num_classes)]
  figure.legend(handles=handles, loc='center right', fontsize=8,
                title='digit', title_fontsize=8, frameon=False)
  return _save(figure, path)


def curves(series: Mapping[str, tuple[np.ndarray, np.ndarray]],
           path: str | os.PathLike, *, title: str, columns: int = 3,
           x_label: str = 'epoch') -> str:
  """Writes one small line plot per named series (x against y).

  With n series in ``columns`` columns, the PNG is 350 ``columns`` pixels wide
  and 275 ceil(n / columns) + 50 high; the axes of series k, in row r and
  column c (k = r ``columns`` + c), fill the 270 x 200 pixels at
  left = 350 c + 60, top = 275 r + 80.

  Args:
    series: name -> (x [T], y [T]), one panel each, in the mapping's order.
    path: the PNG to write.
    title: the figure's title.
    columns: panels per row.
    x_label: the x axes' label (x takes integer values).

  Returns:
    ``path``.
  """
  rows = math.ceil(len(series) / columns)
  figure = _figure(350 * columns, 275 * rows + 50, title)
  for i, (name, (x, y)) in enumerate(series.items()):
    row, column = divmod(i, columns)
    axes = _axes(figure, 350 * column + 60, 275 * row + 80, 270, 200)
    axes.plot(x, y, marker='.', linewidth=1)
    axes.set_title(name, fontsize=9)
    axes.set_xlabel(x_label, fontsize=8)
    if len(x) <= 10:  # Few values: one tick each.
      axes.set_xticks(x)
    else:
      axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
  return _save(figure, path)
