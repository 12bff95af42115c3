"""PolyMNIST runs side by side: the tables of ``python -m experiments.polymnist_report``.

Reads each run's results.json (``jmvae_jax.tasks.polymnist.experiment``) and
metrics.jsonl and writes, as Markdown, one column per run:

* coherence of x_m decoded from X_S, by |S| (the curve papers plot), and
  unconditional coherence;
* log p(x_m | X_S) by |S|, and the joint log p(X) of all five;
* the linear separability of the means of q(z|X_S), by |S|;
* the budget: epochs, test examples, k, training and evaluation wall times.

A run without a value shows an empty cell (coherence needs the cached
classifiers).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from jmvae_jax.data import polymnist
from jmvae_jax.report import summaries, tables
from jmvae_jax.training.evaluation import format_duration
from jmvae_jax.training.json_files import read_json_object

# (title, results.json key, digits after the point) of each table's lines.
_SIZES = range(1, polymnist.NUM_MODALITIES)
_TABLES = (
    ('Coherence: the fraction of x_m decoded from z ~ q(z | X_S) read as the '
     'digit of X_S, mean over every S of that size and m outside it',
     [(f'|S| = {s}', f'coherence_given_{s}', 3) for s in _SIZES]
     + [('unconditional (z ~ p(z), all five agree)',
         'coherence_unconditional', 3)]),
    ('Log-likelihoods, nats (importance-weighted, proposal q(z | X_S))',
     [(f'log p(x_m | X_S), |S| = {s}', f'conditional_given_{s}', 1)
      for s in _SIZES] + [('log p(X), all five', 'joint', 1)]),
    ('Linear separability: test accuracy of a logistic regression on the '
     'means of q(z | X_S)',
     [(f'|S| = {s}', f'separability_given_{s}', 3)
      for s in range(1, polymnist.NUM_MODALITIES + 1)]),
)


def _cell(results: dict[str, Any], key: str, digits: int) -> str:
  value = results.get(key)
  return f'{value:.{digits}f}' if summaries.is_number(value) else ''


def _budget(workdir: str, results: dict[str, Any]) -> list[str]:
  records = summaries.read_metrics(workdir)
  training = sum(r.get('seconds', 0.0) for r in records)
  return [str(results.get('epoch', '')),
          str(results.get('num_test_examples', '')),
          str(results.get('eval_k', '')), format_duration(training),
          format_duration(results.get('eval_seconds', 0.0))]


def compare(workdirs: Sequence[str], names: Sequence[str]) -> str:
  """The Markdown of the module docstring for runs ``workdirs``, headed ``names``."""
  results = [read_json_object(os.path.join(w, 'results.json'),
                              fix='train and evaluate the run first')
             for w in workdirs]
  header = ['', *names]
  parts = []
  for title, lines in _TABLES:
    # '\|': a bar inside a Markdown table cell.
    body = [[label.replace('|', '\\|')]
            + [_cell(r, key, digits) for r in results]
            for label, key, digits in lines]
    parts.append(tables.to_markdown(title, [header] + body))
  budget = [_budget(w, r) for w, r in zip(workdirs, results)]
  labels = ['epochs', 'test examples', 'k', 'training', 'evaluation']
  parts.append(tables.to_markdown(
      'Budget and wall time',
      [header] + [[label] + [b[i] for b in budget]
                  for i, label in enumerate(labels)]))
  return '\n'.join(parts)

