"""Figures of a trained PolyMNIST run (``python -m experiments.figures``).

Into RUN/figures/:
  cross_modal_generation.png  each modality generated from each single one:
                              for the first test examples, the inputs x_s
                              (one row per modality s), then one panel per
                              target m whose row s is x_m decoded from one
                              z ~ q(z|x_s) (on the diagonal: x_s rebuilt);
                              a coherent model draws the input's digit in
                              every panel, in each modality's own style.
  by_number_of_inputs.png     results.json's metrics against |S|, the number
                              of observed modalities: conditional coherence,
                              log p(x_m | X_S), the latent's linear
                              separability (the curves papers plot).
and the run's training curves, event data and report.md
(``jmvae_jax.report.run_figures``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Callable

import jax
import numpy as np

from jmvae_jax import generation
from jmvae_jax.data import polymnist
from jmvae_jax.errors import UserError
from jmvae_jax.report import plotting, run_figures
from jmvae_jax.tasks.polymnist import experiment
from jmvae_jax.tasks.polymnist.restore import load_run
from jmvae_jax.training.restore import TrainedRun

CROSS_MODAL = 'cross_modal_generation.png'
BY_INPUTS = 'by_number_of_inputs.png'

# Panel title -> the results.json prefix of its values by |S|.
_BY_INPUTS_SERIES = (
    ('coherence of x_m decoded from X_S', 'coherence_given_'),
    ('log p(x_m | X_S), nats', 'conditional_given_'),
    ('linear separability of q(z | X_S)', 'separability_given_'),
)


def _pictures(flat: Any) -> np.ndarray:
  """[N, 2352] in [0, 1] -> [N, 28, 28, 3]."""
  return np.asarray(flat).reshape(-1, polymnist.SIDE, polymnist.SIDE, 3)


def cross_modal_figure(run: TrainedRun, images: np.ndarray, path: str, *,
                       key: jax.Array) -> str:
  """The figure of the module docstring for ``images`` [n, 5, 28, 28, 3] uint8.

  Source modality s draws z from fold_in(key, s); its row of every target
  panel decodes that same z.
  """
  names = polymnist.MODALITY_NAMES
  given = experiment.observed(images)
  rows = {target: [] for target in names}
  for s, source in enumerate(names):
    decoded = generation.generate_targets(
        run.model, run.params, {source: given[source]}, names,
        key=jax.random.fold_in(key, s))
    for target in names:
      rows[target].append(_pictures(decoded[target]))
  inputs = np.swapaxes(images, 0, 1).astype(np.float32) / 255.0
  panels = [('inputs x_s', inputs)] + [
      (f'{target} from x_s', np.stack(rows[target])) for target in names]
  return plotting.image_grids(
      panels, path, row_labels=[f's = {name}' for name in names],
      label_width=45,
      title=f'Cross-modal generation, {run.name} after {run.epoch} epochs: '
      'each row s decodes one z ~ q(z | x_s)')


def by_inputs_figure(results: Mapping[str, Any], path: str, *,
                     title: str) -> str | None:
  """results.json's metrics against |S| (``_BY_INPUTS_SERIES``); None if it has none."""
  series = {}
  for panel, prefix in _BY_INPUTS_SERIES:
    sizes = sorted(int(key.removeprefix(prefix)) for key in results
                   if key.startswith(prefix))
    if sizes:
      series[panel] = (np.array(sizes),
                       np.array([results[f'{prefix}{s}'] for s in sizes]))
  if not series:
    return None
  return plotting.curves(series, path, title=title,
                         x_label='observed modalities |S|')


def write_polymnist_figures(workdir: str, *, data_dir: str | None = None,
                            num_examples: int = 8, seed: int = 0,
                            data: polymnist.PolyMNISTData | None = None,
                            log: Callable[[str], None] = print
                            ) -> dict[str, str]:
  """Writes the figures of the module docstring for the run in ``workdir``.

  Args:
    workdir: a PolyMNIST run's directory.
    data_dir: where PolyMNIST (or the MNIST it is made from) is looked for
      (default: the run's).
    num_examples: test examples in the cross-modal figure.
    seed: seed of its draws.
    data: PolyMNIST; by default loaded as the run's config says.
    log: receives a line per file written or skipped.

  Returns:
    {name: path} of what was written.

  Raises:
    UserError: ``num_examples`` < 1, or ``workdir`` is not a PolyMNIST run
      with a checkpoint.
  """
  if num_examples < 1:
    raise UserError(f'--num_samples must be >= 1, got {num_examples}')
  run = load_run(workdir)
  if data is None:
    data = polymnist.load_polymnist(
        os.path.expanduser(data_dir or run.config.data_dir),
        seed=run.config.data_seed, verify_mnist=run.config.verify_data)
  figures = run_figures.FigureLog(run.workdir, log)
  figures.done(CROSS_MODAL, cross_modal_figure(
      run, data.test_images[:num_examples], figures.path(CROSS_MODAL),
      key=jax.random.key(seed)))
  results_path = os.path.join(run.workdir, 'results.json')
  drawn = None
  if os.path.isfile(results_path):
    with open(results_path) as f:
      drawn = by_inputs_figure(
          json.load(f), figures.path(BY_INPUTS),
          title=f'{run.name}: test metrics against the number of observed '
          'modalities')
  if drawn:
    figures.done(BY_INPUTS, drawn)
  else:
    figures.skipped(BY_INPUTS, f'{results_path} holds no metrics by |S| '
                    '(the run has not been evaluated)')
  return figures.finish(run.name, None)
