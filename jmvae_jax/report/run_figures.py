"""What every task's figures command shares: the record of files written, and its end.

A task's figures (``jmvae_jax.tasks.mnist.figures``,
``jmvae_jax.tasks.celeba.figures``) draw their own panels into RUN/figures/
through a ``FigureLog``, then ``FigureLog.finish`` adds what is the same for
every run: ``training_curves.png`` (every loss term of metrics.jsonl against
the epoch), the TensorBoard event data of the figures and results
(``jmvae_jax.report.summaries``) and RUN/report.md with links to the figures
(``jmvae_jax.report.run_report``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from jmvae_jax.report import plotting, run_report, summaries, tables
from jmvae_jax.training.workdir import is_number

CURVES = 'training_curves.png'
# metrics.jsonl fields that are not curves.
_NOT_CURVES = ('epoch', 'seconds', 'images', 'images_per_second')


def curves_figure(records: Sequence[dict[str, float]], path: str, *,
                  title: str) -> str:
  """Every loss term of metrics.jsonl (and the KL weight) against the epoch.

  Args:
    records: one per epoch, as ``summaries.read_metrics`` returns them; every
      numeric field but the epoch and the timing fields gets a panel.
    path: the PNG to write.
    title: the figure's title.

  Returns:
    ``path``.
  """
  names = sorted(name for name, value in records[0].items()
                 if name not in _NOT_CURVES and is_number(value))
  epochs = np.array([r['epoch'] for r in records])
  return plotting.curves(
      {name: (epochs, np.array([r[name] for r in records])) for name in names},
      path, title=title)


class FigureLog:
  """The figures of one run as they are written into ``workdir/figures/``.

  Attributes:
    workdir: the run's directory.
    out: ``workdir/figures``, where the PNGs go.
    paths: name -> path of everything written so far.
  """

  def __init__(self, workdir: str, log: Callable[[str], None]):
    self.workdir = workdir
    self.out = os.path.join(workdir, 'figures')
    self.paths: dict[str, str] = {}
    self._log = log

  def path(self, name: str) -> str:
    """Where the figure file ``name`` goes."""
    return os.path.join(self.out, name)

  def done(self, name: str, path: str) -> None:
    """Records and logs that ``name`` was written to ``path``."""
    self.paths[name] = path
    self._log(f'wrote {path}')

  def skipped(self, name: str, reason: str) -> None:
    """Logs that ``name`` was not drawn, and why."""
    self._log(f'skipped {name}: {reason}')

  def finish(self, run_name: str,
             table_set: tables.TableSet) -> dict[str, str]:
    """Writes the training curves, the event data and report.md.

    Args:
      run_name: the run's name, for the curves' title.
      table_set: the task's tables, whose paper numbers report.md shows.

    Returns:
      ``paths``: each figure, then 'events' -> the event file and 'report'
      -> report.md.
    """
    records = summaries.read_metrics(self.workdir)
    if records:
      self.done(CURVES, curves_figure(
          records, self.path(CURVES),
          title=f'Training curves, {run_name} ({self.workdir})'))
    else:
      self.skipped(CURVES, f'{self.workdir} has no metrics.jsonl')
    self.done('events', summaries.summarize_run(self.workdir, self.paths))
    self.done('report', run_report.write_report(self.workdir, table_set))
    return self.paths
