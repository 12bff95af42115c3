"""A run's report.md: settings, test bounds beside the paper's, times, figures.

``write_report(WORKDIR)`` reads what a run wrote (config.json, results.json,
metrics.jsonl, figures/) and writes WORKDIR/report.md, a page to read on its
own: the model and budget in one line, the test bounds in a table with the
paper's number for the same model where the paper has one (Tables 1-3, from
the data set's ``TableSet``), the
wall times of training and evaluation, the epochs whose training loss spiked
(``loss_spikes``) and the blow-up warnings training recorded, links to the figures once
``experiments.figures`` has drawn them, and every setting. Training writes it
after results.json (``record_results``), and drawing the figures writes it
again with their links. It works for MNIST and CelebA runs, and for the
members of a grid (``jmvae_jax.tasks.mnist.grid``), which are evaluated as runs of their
own.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from jmvae_jax.report.summaries import read_metrics, write_test_scalars
from jmvae_jax.report.tables import TableSet
from jmvae_jax.training.evaluation import (OUTLIER_FRACTION, TAIL_TOLERANCE,
                                            WITHOUT_OUTLIERS, format_duration)
from jmvae_jax.training.json_files import read_json_object
from jmvae_jax.training.run_loop import BLOWUP_FACTOR, BLOWUP_WINDOW
from jmvae_jax.training.workdir import (is_loss_term, is_number,
                                       write_json_atomically, write_results)

REPORT = 'report.md'
# Fields of results.json that describe the evaluation rather than measure.
_NOT_BOUNDS = ('model', 'alpha', 'epoch', 'eval_k', 'eval_prior_samples',
               'num_test_examples', 'eval_seconds')
# Fields that are fractions in [0, 1], not nats (``jmvae_jax.metrics``).
_FRACTIONS = ('coherence', 'classifier_accuracy/', 'separability_given_')
_BOUND_WORDS = {
    'marginal_multiple': 'log p(x), proposal q(z|x,w)',
    'marginal_single': 'log p(x), proposal q(z|x)',
    'conditional_multiple': 'log p(x|w), proposal q(z|x,w)',
    'conditional_single': 'log p(x|w), proposal q(z|w)',
    'joint': 'log p(x,w)',
    'test_elbo': 'ELBO of the training objective',
}


def _model_line(config: Mapping[str, Any], results: Mapping[str, Any],
                records: list[dict[str, Any]]) -> str:
  model = config.get('model', '?')
  if model.startswith('jmvae') and model != 'jmvae_zero':  # alpha matters.
    model += f' (alpha {config.get("alpha")})'
  epoch = results.get('epoch', records[-1]['epoch'] if records else 0)
  return (f'**{model}**, {epoch} of {config.get("epochs", "?")} epochs, '
          f'seed {config.get("seed", "?")}.')


def _bound_words(key: str) -> str:
  """What a results.json bound measures, in words ('' if not known)."""
  bound = key.removesuffix(WITHOUT_OUTLIERS)
  words = _BOUND_WORDS.get(bound.removeprefix('test_'),
                           _BOUND_WORDS.get(bound, ''))
  if bound == key:
    return words
  return (f'{words}, without the {OUTLIER_FRACTION:.1%} of test examples '
          f'farthest from the median, which move its mean by more than '
          f'{TAIL_TOLERANCE:g} nats').lstrip(', ')


def _bounds_table(results: Mapping[str, Any],
                  paper: Mapping[str, float]) -> list[str]:
  lines = ['| bound | ours | paper | ours - paper |', '|---|---|---|---|']
  for key in sorted(results):
    value = results[key]
    if (key in _NOT_BOUNDS or key.startswith(_FRACTIONS)
        or not is_number(value)):
      continue
    words = _bound_words(key)
    # A bar inside a cell of a Markdown table is written \|.
    name = f'`{key}`' + (f': {words}'.replace('|', r'\|') if words else '')
    if key in paper:
      lines.append(f'| {name} | {value:.2f} | {paper[key]:g} | '
                   f'{value - paper[key]:+.2f} |')
    else:
      lines.append(f'| {name} | {value:.2f} | | |')
  return lines


def _fractions_table(results: Mapping[str, Any]) -> list[str]:
  """Coherence, classifier accuracy and separability: a table, or [] if none."""
  keys = sorted(key for key, value in results.items()
                if key.startswith(_FRACTIONS) and is_number(value))
  if not keys:
    return []
  return (['', '## Coherence, separability and the judges\' accuracy', '',
           'Fractions in [0, 1] (`jmvae_jax.metrics`).', '',
           '| metric | ours |', '|---|---|']
          + [f'| `{key}` | {results[key]:.3f} |' for key in keys])


def _times(results: Mapping[str, Any],
           records: list[dict[str, Any]]) -> list[str]:
  lines = []
  seconds = [r['seconds'] for r in records if is_number(r.get('seconds'))]
  if seconds:
    speeds = [r['images_per_second'] for r in records
              if is_number(r.get('images_per_second'))]
    speed = f', {sum(speeds) / len(speeds):.0f} images/s' if speeds else ''
    lines.append(f'- training: {format_duration(sum(seconds))} over '
                 f'{len(seconds)} epochs ({sum(seconds) / len(seconds):.1f} s '
                 f'per epoch{speed}; a resumed run counts the epochs it kept)')
  if is_number(results.get('eval_seconds')):
    lines.append(f'- evaluation: {format_duration(results["eval_seconds"])} '
                 f'(k = {results.get("eval_k")}, '
                 f'{results.get("num_test_examples")} test examples)')
  return lines or ['- none recorded yet']


# A loss spike: an epoch whose mean training loss is more than this fraction
# of its size (and at least 1) above the median of the SPIKE_WINDOW epochs
# before it and above that of the SPIKE_WINDOW after it.
SPIKE_RISE = 0.5
SPIKE_WINDOW = 5


def _median(records: Sequence[Mapping[str, Any]], key: str) -> float:
  return statistics.median(r[key] for r in records if is_number(r.get(key)))


def _is_term(key: str, value: Any) -> bool:
  """Whether a metrics.jsonl field is a term of the loss."""
  return key != 'loss' and is_loss_term(key) and is_number(value)


def loss_spikes(records: Sequence[Mapping[str, Any]]
                ) -> list[tuple[int, float, float, str]]:
  """The epochs whose mean training loss jumped above the epochs around them.

  Args:
    records: metrics.jsonl's records, one per epoch, in order.

  Returns:
    (epoch, its loss, the median loss of the epochs around it, the term of
    the record that rose most above its own median there) per spike. An epoch
    must stand above the epochs on both sides, so a falling or warming-up
    loss is no spike, nor is the first epoch. The last epoch, which has none
    after it, is held to the epochs before it alone: a jump there is listed,
    though whether training would have come back down is not known, and the
    run's test bounds are of the model it left.
  """
  kept = [r for r in records if is_number(r.get('loss'))]
  spikes = []
  for i, record in enumerate(kept):
    before = kept[max(0, i - SPIKE_WINDOW):i]
    after = kept[i + 1:i + 1 + SPIKE_WINDOW]
    medians = [_median(side, 'loss') for side in (before, after) if side]
    if not before or not all(record['loss'] - m > max(SPIKE_RISE * abs(m), 1.0)
                             for m in medians):
      continue
    around = before + after
    rises = {key: value - _median(around, key)
             for key, value in record.items()
             if _is_term(key, value)
             and any(is_number(r.get(key)) for r in around)}
    spikes.append((record['epoch'], record['loss'], _median(around, 'loss'),
                   max(rises, key=rises.get) if rises else ''))
  return spikes


def _spikes(records: Sequence[Mapping[str, Any]]) -> list[str]:
  rule = (f'more than {SPIKE_RISE:.0%} above the median of the '
          f'{SPIKE_WINDOW} epochs on each side of it')
  spikes = loss_spikes(records)
  if not spikes:
    return [f'None: no epoch\'s mean training loss rose {rule}.']
  last = max(r['epoch'] for r in records if is_number(r.get('loss')))
  lines = ([f'Epochs whose mean training loss rose {rule} (metrics.jsonl has '
            'every term of every epoch):', '',
            '| epoch | loss | around it | term that rose most |',
            '|---|---|---|---|']
           + [f'| {epoch}{" (the last)" if epoch == last else ""} | '
              f'{loss:.2f} | {typical:.2f} | `{term}` |'
              for epoch, loss, typical, term in spikes])
  if spikes[-1][0] == last:
    lines += ['', f'Epoch {last} is the last recorded, measured against the '
              'epochs before it alone: the test bounds (once evaluated) are '
              'of the model it left, and its learning-curve bounds, where '
              'recorded, show whether that model kept a trace.']
  return lines


def _training_warnings(records: Sequence[Mapping[str, Any]]) -> list[str]:
  """The blow-up warnings training wrote into metrics.jsonl as it went
  (``run_loop.blowup_warnings``): one term may blow up while the loss, the
  sum, stays under a spike."""
  warned = [r for r in records if isinstance(r.get('warning'), str)]
  if not warned:
    return []
  rule = (f'a term of the loss more than {BLOWUP_FACTOR:g}x its median over '
          f'the {BLOWUP_WINDOW} epochs before')
  return (['', f'Warnings training wrote as it went ({rule}):', '']
          + [f'- epoch {r["epoch"]}: {r["warning"]}' for r in warned])


def _figures(workdir: str) -> list[str]:
  directory = os.path.join(workdir, 'figures')
  names = sorted(name for name in (os.listdir(directory)
                                   if os.path.isdir(directory) else [])
                 if name.endswith('.png'))
  if not names:
    return ['None yet: `python -m experiments.figures '
            f'--workdir={workdir}` draws them.']
  return [f'- [{name}](figures/{name})' for name in names]


def render_report(workdir: str, tables: TableSet | None = None) -> str:
  """The Markdown of WORKDIR's report (see the module docstring); ``tables``
  gives the paper's numbers beside the run's (``TableSet.paper_numbers``)."""
  config = read_json_object(os.path.join(workdir, 'config.json')) or {}
  results = read_json_object(os.path.join(workdir, 'results.json')) or {}
  records = read_metrics(workdir, results.get('epoch'))
  paper, budget = tables.paper_numbers(config) if tables else ({}, '')
  lines = [f'# Run report: {os.path.basename(os.path.normpath(workdir))}', '',
           _model_line(config, results, records), '', f'Directory: `{workdir}`',
           '', '## Test bounds', '']
  if results:
    lines += [f'Mean over {results.get("num_test_examples")} test examples, '
              f'in nats, k = {results.get("eval_k")} importance samples.', '']
    lines += _bounds_table(results, paper)
    if paper:
      lines += ['', f'The paper\'s numbers come from its budget. {budget}']
    lines += _fractions_table(results)
  else:
    lines.append('Not evaluated yet: results.json is missing.')
  lines += ['', '## Wall time', ''] + _times(results, records)
  lines += (['', '## Loss spikes', ''] + _spikes(records)
            + _training_warnings(records))
  lines += ['', '## Figures', ''] + _figures(workdir)
  lines += ['', '## Settings (config.json)', '', '| setting | value |',
            '|---|---|']
  lines += [f'| `{name}` | `{json.dumps(value)}` |'
            for name, value in sorted(config.items())]
  return '\n'.join(lines) + '\n'


def write_report(workdir: str | os.PathLike,
                 tables: TableSet | None = None) -> str:
  """Writes WORKDIR/report.md (atomically); returns its path."""
  workdir = os.path.abspath(os.fspath(workdir))
  path = os.path.join(workdir, REPORT)
  write_json_atomically(path, render_report(workdir, tables))
  return path


def record_results(workdir: str, results: Mapping[str, Any],
                   tables: TableSet | None = None) -> None:
  """Writes an evaluated run's results.json, 'test/' scalars and report.md
  (with the paper's numbers from ``tables``).

  Raises:
    UserError: a result is not finite (nothing is written then).
  """
  write_results(os.path.join(workdir, 'results.json'), dict(results))
  write_test_scalars(workdir, results)
  write_report(workdir, tables)
