"""The report of a paper-budget tables grid (``experiments.paper_report``).

Reads the grid ROOT/<row>/seed<N>/ that ``experiments.tables`` trains (see
``jmvae_jax.report.tables``) and writes into OUT:

  learning_curves.png    (a) each row's learning-curve bounds against epochs,
                         the paper's numbers dashed (``grid_curves``); rows
                         still training are drawn up to their last curve
  fig7_generation.png    (b) Fig. 7, digits drawn from labels, one panel per
                         finished row that generates them (JMVAE through
                         q(z|w); CVAE and CMMA through p(z|w))
  label_accuracy.{json,md}  (c) how often an image drawn from a label is read
                         as that label by an independent digit classifier
                         (``label_coherence``, ``digit_judge``)
  models/<row>_seed<N>/  (d) each finished row's released model
                         (``jmvae_jax.tasks.mnist.export``, ``jmvae_jax.tasks.mnist.release``)
  eq9_readings.{json,md} (e) both readings of the single conditional bound,
                         Eq. 9, for each finished JMVAE row (``eq9_readings``)
  paper_report.md        what was written and what was skipped

Every part skips rows that are missing or not finished (no results.json for
the configured number of epochs), with a logged note, so the report can be
re-run as rows land. It never trains a model of the grid; the digit classifier
ships with the library for the classic pickle (``digit_judge``), or is trained
once and cached.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Sequence

import jax

from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError
from jmvae_jax.metrics import digit_classifier
from jmvae_jax.report import grid_curves, summaries, tables
from jmvae_jax.tasks.mnist import (digit_judge, eq9_readings, export, figures,
                                   label_coherence, release, restore)
from jmvae_jax.tasks.mnist.tables import MNIST
from jmvae_jax.training.json_files import read_json_object
from jmvae_jax.training.settings import (choice_problems, raise_problems,
                                        range_problems)
from jmvae_jax.training.workdir import write_json_atomically

CURVES = 'learning_curves.png'
FIG7 = 'fig7_generation.png'
LABEL_ACCURACY = 'label_accuracy'
EQ9 = 'eq9_readings'
MODELS = 'models'
INDEX = 'paper_report.md'
# Independent streams of the report's key.
_FIG7_STREAM, _LABEL_STREAM, _EQ9_STREAM = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class ReportSettings:
  """What the report measures, and how much.

  Attributes:
    seed: the grid's seed whose runs are reported (ROOT/<row>/seed<seed>).
    draw_seed: root of the report's own draws (Fig. 7, label accuracy, Eq. 9).
    fig7_samples: images per digit in Fig. 7.
    label_samples: images drawn per digit for the label accuracy.
    eq9_images: the first this many test images for the Eq. 9 readings.
    eq9_k: importance samples per image for them (the tables: 1000).
    eq9_prior_samples: prior draws for log p(w) (the tables: 5000).
    storage_dtype: of the released models: 'float32', 'bfloat16' or 'auto'
      (bfloat16 when the check bound moves by at most 0.01 nats).
  """

  seed: int = 0
  draw_seed: int = 0
  fig7_samples: int = 8
  label_samples: int = 100
  eq9_images: int = 1000
  eq9_k: int = 1000
  eq9_prior_samples: int = 5000
  storage_dtype: str = 'auto'

  def __post_init__(self):
    raise_problems(
        range_problems(
            self, at_least_zero=('seed',),
            at_least_one=('fig7_samples', 'label_samples', 'eq9_images',
                          'eq9_k', 'eq9_prior_samples'))
        + choice_problems(self, 'storage_dtype',
                          release.STORAGE_DTYPES + ('auto',)))


@dataclasses.dataclass(frozen=True)
class GridRun:
  """One row's run of the grid and how far it got.

  Attributes:
    row: the tables row.
    workdir: ROOT/<row>/seed<N>, or for a released row the released model's
      folder.
    state: 'missing' (no config.json), 'unfinished', 'finished', or
      'released': the run finished, was exported to OUT/models/, and its
      checkpoints are gone (e.g. on another machine); the report then reads
      the released model, and its learning curves from the release's
      metrics.jsonl when it has one.
    epoch: epochs recorded in metrics.jsonl (0 if none).
    epochs: epochs the run is configured for (0 if missing).
  """

  row: tables.Row
  workdir: str
  state: str
  epoch: int
  epochs: int

  @property
  def finished(self) -> bool:
    return self.state in ('finished', 'released')

  def describe(self) -> str:
    if self.state == 'missing':
      return f'{self.row.label}: no run in {self.workdir}'
    if self.state == 'unfinished':
      return (f'{self.row.label}: unfinished (epoch {self.epoch} of '
              f'{self.epochs})')
    plural = '' if self.epochs == 1 else 's'
    if self.state == 'released':
      return (f'{self.row.label}: finished ({self.epochs} epoch{plural}), '
              f'read from its released model {self.workdir}')
    return f'{self.row.label}: finished ({self.epochs} epoch{plural})'


def released_model_dir(out_dir: str, row: tables.Row, seed: int) -> str:
  """Where the report exports (d) the model of ``row``'s run of ``seed``."""
  return os.path.join(out_dir, MODELS, f'{row.name}_seed{seed}')


def grid_runs(root: str, rows: Sequence[tables.Row], seed: int,
              out_dir: str | None = None) -> list[GridRun]:
  """The state of each row's run of seed ``seed`` under ``root``; a row whose
  run has no checkpoints but a released model in ``out_dir`` is 'released'."""
  found = []
  for row in rows:
    workdir = tables.run_dir(root, row, seed)
    released = out_dir and released_model_dir(out_dir, row, seed)
    if (released and release.is_released_model(released)
        and not os.path.isdir(os.path.join(workdir, 'checkpoints'))):
      epochs = int(release.read_release(released)['epoch'])
      found.append(GridRun(row, released, 'released', epochs, epochs))
      continue
    config = read_json_object(os.path.join(workdir, 'config.json'))
    if config is None:
      found.append(GridRun(row, workdir, 'missing', 0, 0))
      continue
    epochs = int(config.get('epochs', 0))
    records = summaries.read_metrics(workdir)
    epoch = int(records[-1]['epoch']) if records else 0
    results = read_json_object(os.path.join(workdir, 'results.json'))
    done = results is not None and results.get('epoch') == epochs
    found.append(GridRun(row, workdir, 'finished' if done else 'unfinished',
                         epochs if done else epoch, epochs))
  return found


def write_curves(runs: Sequence[GridRun], path: str,
                 log: Callable[[str], None]) -> str | None:
  """(a): the learning curves of every row that has recorded some."""
  panels, paper, settings = [], {}, set()
  for run in runs:
    series = grid_curves.read_curves(run.workdir)
    if not series:
      log(f'learning curves: skipped {run.describe()}, no curve recorded')
      continue
    config = read_json_object(os.path.join(run.workdir, 'config.json')) or {}
    if 'curve_k' in config:
      settings.add((config['curve_k'], config.get('curve_examples')))
    title = run.row.label
    if not run.finished:
      title += f' (epoch {run.epoch}/{run.epochs})'
      log(f'learning curves: {run.describe()}, drawn so far')
    panels.append((title, run.row.model, series))
    paper[title] = {key: value for (name, key), value in MNIST.paper.items()
                    if name == run.row.name}
  if not panels:
    log('learning curves: skipped, no row has recorded curves (train with '
        '--curve_every, as --paper does)')
    return None
  if len(settings) == 1:
    (k, examples), = settings
    how = f'k={k} on the first {examples} test images'
  else:
    how = 'each row\'s curve_k and curve_examples'

  return grid_curves.curves_figure(
      panels, paper, path,
      title=f'Learning curves: test bounds ({how}; solid) and the paper\'s '
      'Tables 1 and 3 (k=1000, all test images; dashed)')


def _write_pair(out_dir: str, stem: str, values: Any, markdown: str
                ) -> list[str]:
  json_path = os.path.join(out_dir, f'{stem}.json')
  write_json_atomically(json_path, json.dumps(values, indent=2,
                                              sort_keys=True))
  md_path = os.path.join(out_dir, f'{stem}.md')
  write_json_atomically(md_path, markdown)
  return [json_path, md_path]


def write_label_accuracy(loaded: Sequence[tuple[GridRun, Any, Any]],
                         classifier: digit_classifier.DigitClassifier,
                         out_dir: str, *, settings: ReportSettings,
                         key: jax.Array) -> list[str]:
  """(c): label-to-image accuracy of each finished row that generates."""
  values, lines = {}, []
  for run, model, params in loaded:
    accuracy = label_coherence.label_to_image_accuracy(
        model, params, classifier.predict, key=key,
        num_per_label=settings.label_samples)
    values[run.row.name] = accuracy.to_dict()
    # '\\|': a bar inside a Markdown table cell.
    via = 'p(z\\|w)' if hasattr(model, 'conditional_prior') else 'q(z\\|w)'
    lines.append([run.row.label, via, f'{accuracy.overall:.3f}']
                 + [f'{p:.2f}' for p in accuracy.per_digit])
  values['classifier'] = {'test_accuracy': classifier.test_accuracy,
                          'train_seconds': classifier.train_seconds}
  note = (f'{settings.label_samples} images per digit, the Bernoulli means of '
          'p(x|z), read by an MLP trained on the MNIST training split alone '
          f'(test accuracy {classifier.test_accuracy:.4f}, the ceiling of '
          'these numbers); chance is 0.1.')
  header = ['model', 'z from', 'all digits'] + [str(d) for d in range(10)]
  markdown = tables.to_markdown(
      'Label-to-image accuracy (images drawn from labels, read as their '
      'label)', [header] + lines, note)
  return _write_pair(out_dir, LABEL_ACCURACY, values, markdown)


def write_eq9(loaded: Sequence[tuple[GridRun, Any, Any]],
              data: mnist.LabelledImages, out_dir: str, *,
              settings: ReportSettings, key: jax.Array) -> list[str]:
  """(e): both readings of Eq. 9 for each finished JMVAE row."""
  # The same bits as the first rows of the whole binarized test set
  # (``export.check_images``).
  images = mnist.binarize_once(data.test_images[:settings.eq9_images])
  labels = data.test_labels[:settings.eq9_images]
  values, lines = {}, []
  for run, model, params in loaded:
    readings = eq9_readings.both_readings(
        model, params, images, labels, key=key, k=settings.eq9_k,
        prior_samples=settings.eq9_prior_samples)
    results = read_json_object(os.path.join(run.workdir, 'results.json')) or {}
    paper = MNIST.paper.get((run.row.name, 'conditional_single'))
    readings['tables'] = results.get('conditional_single')
    readings['paper'] = paper
    values[run.row.name] = readings
    lines.append([run.row.label] + [
        '' if value is None else tables.format_nats(value) for value in (
            paper, readings['tables'], readings['ours'], readings['tars'])])
  note = (f'Ours and the authors\' code\'s (Tars) reading on the first '
          f'{len(labels)} test images, k={settings.eq9_k}, the same draws '
          f'z ~ q(z|w) for both; log p(w) from {settings.eq9_prior_samples} '
          'prior draws. "tables" is results.json\'s conditional_single (all '
          'test images, ours). Ours: log mean p(x|z) p(w|z) p(z) / q(z|w) - '
          'log p(w); Tars: log mean p(x|z). See bounds.iw_conditional_tars.')
  header = ['model', 'paper', 'tables (ours)', 'ours, subset', 'Tars, subset']
  markdown = tables.to_markdown(
      'Eq. 9, the single conditional bound log p(x|w), two readings (nats)',
      [header] + lines, note)
  return _write_pair(out_dir, EQ9, values, markdown)


def export_models(runs: Sequence[GridRun], out_dir: str, *,
                  data: mnist.LabelledImages, settings: ReportSettings,
                  log: Callable[[str], None]) -> list[str]:
  """(d): each finished run as a released model.

  A model already in place is kept when it was exported from the same run at
  the same epoch, with the storage dtype ``settings`` asks for ('auto' takes
  either).
  """
  written = []
  for run in runs:
    target = released_model_dir(out_dir, run.row, settings.seed)
    if run.state == 'released':
      log(f'models: {target} is the released model; its run is gone')
      written.append(target)
      continue
    if release.is_released_model(target):
      record = release.read_release(target)
      if (record.get('source_workdir') == os.path.abspath(run.workdir)
          and record.get('epoch') == run.epochs
          and settings.storage_dtype in ('auto', record.get('storage_dtype'))):
        log(f'models: {target} is up to date')
        written.append(target)
        continue
    written.append(export.export_run(
        run.workdir, target, storage_dtype=settings.storage_dtype, data=data,
        log=lambda line: log(f'models: {line}')))
  return written


def _index(runs: Sequence[GridRun], paths: dict[str, Any], root: str,
           out_dir: str, settings: ReportSettings) -> str:
  """paper_report.md: the rows' states, and links (relative to it) to the
  files written."""
  lines = [f'# Paper-grid report: {root} (seed {settings.seed})', '',
           '## Runs', '']
  lines += [f'- {run.describe()}' for run in runs]
  lines += ['', '## Written', '']
  for name, value in paths.items():
    for path in value if isinstance(value, list) else [value]:
      relative = os.path.relpath(path, out_dir)
      lines.append(f'- {name}: [{relative}]({relative})')
  return '\n'.join(lines) + '\n'


def write_paper_report(root: str | os.PathLike, out_dir: str | os.PathLike,
                       *, settings: ReportSettings = ReportSettings(),
                       rows: Sequence[tables.Row] = MNIST.rows,
                       data: mnist.LabelledImages | None = None,
                       data_dir: str = '~/.cache/jmvae_jax',
                       verify_data: bool = True,
                       classifier_config: digit_classifier.ClassifierConfig = (
                           digit_classifier.ClassifierConfig()),
                       log: Callable[[str], None] = print) -> dict[str, Any]:
  """Writes the report of the module docstring.

  Args:
    root: the grid's directory (ROOT/<row>/seed<N>/).
    out_dir: where the report goes (e.g. results/mnist_paper).
    settings: what to measure.
    rows: the rows to report, in order.
    data: MNIST; by default loaded from ``data_dir`` (only when some row has
      finished).
    data_dir: where MNIST is looked for, and the digit classifier cached.
    verify_data: check the MNIST files' SHA-256.
    classifier_config: the digit classifier's training settings.
    log: receives a line per part written or row skipped.

  Returns:
    {part: path or list of paths} of what was written.

  Raises:
    UserError: ``root`` is not a directory, MNIST is missing, or a run cannot
      be loaded.
  """
  root = os.path.abspath(os.path.expanduser(os.fspath(root)))
  if not os.path.isdir(root):
    raise UserError(f'--root={root} is not a directory; give the --root of '
                    '`python -m experiments.tables`')
  out_dir = os.path.abspath(os.path.expanduser(os.fspath(out_dir)))
  os.makedirs(out_dir, exist_ok=True)
  runs = grid_runs(root, rows, settings.seed, out_dir)
  for run in runs:
    log(run.describe())
  paths: dict[str, Any] = {}
  curves = write_curves(runs, os.path.join(out_dir, CURVES), log)
  if curves:
    paths['learning curves'] = curves
    log(f'wrote {curves}')

  finished = [run for run in runs if run.finished]
  for run in runs:
    if not run.finished:
      log(f'Fig. 7, label accuracy, models, Eq. 9: skipped {run.describe()}')
  if finished:
    trained = [(run, restore.load_run(run.workdir)) for run in finished]
    scales = {trained_run.config.pixel_scale for _, trained_run in trained}
    if len(scales) > 1:
      raise UserError(f'the rows under {root} read MNIST with different '
                      f'--pixel_scale ({sorted(scales)}); report each scale '
                      'from its own --root')
    if data is None:
      data = mnist.load_mnist(os.path.expanduser(data_dir),
                              verify=verify_data, pixel_scale=scales.pop())
    key = jax.random.key(settings.draw_seed)
    generators = [(run, trained_run) for run, trained_run in trained
                  if label_coherence.can_generate(trained_run.model)]
    evaluation = [(run, trained_run.config.build_model(training=False),
                   trained_run.params) for run, trained_run in generators]
    if generators:
      paths['Fig. 7'] = figures.generation_figure(
          [trained_run for _, trained_run in generators],
          os.path.join(out_dir, FIG7),
          key=jax.random.fold_in(key, _FIG7_STREAM),
          num_samples=settings.fig7_samples)
      log(f'wrote {paths["Fig. 7"]}')
      classifier = digit_judge.load_or_train(
          data, cache_dir=data_dir, config=classifier_config, log=log)
      paths['label accuracy'] = write_label_accuracy(
          evaluation, classifier, out_dir, settings=settings,
          key=jax.random.fold_in(key, _LABEL_STREAM))
      log(f'wrote {", ".join(paths["label accuracy"])}')
    else:
      log('Fig. 7 and label accuracy: skipped, no finished row generates '
          'images from labels')
    paths['models'] = export_models(finished, out_dir, data=data,
                                    settings=settings, log=log)
    jmvae = [(run, model, params) for run, model, params in evaluation
             if hasattr(model, 'log_pw')]
    if jmvae:
      paths['Eq. 9'] = write_eq9(jmvae, data, out_dir, settings=settings,
                                 key=jax.random.fold_in(key, _EQ9_STREAM))
      log(f'wrote {", ".join(paths["Eq. 9"])}')
    else:
      log('Eq. 9: skipped, no finished JMVAE row')
  else:
    log('Fig. 7, label accuracy, models, Eq. 9: skipped, no row has finished')
  index = os.path.join(out_dir, INDEX)
  write_json_atomically(index, _index(runs, paths, root, out_dir, settings))
  paths['index'] = index
  log(f'wrote {index}')
  return paths

