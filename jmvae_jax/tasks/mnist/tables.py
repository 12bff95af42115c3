"""Tables 1 and 3 of the paper (MNIST): their rows, columns and numbers.

Runs, resumption and the tables themselves are ``jmvae_jax.report.tables``';
each row is a ``jmvae_jax.tasks.mnist.experiment.train_and_evaluate`` run.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from jmvae_jax.models import display_name
from jmvae_jax.report.tables import Row, Table, TableSet, coherence_table
from jmvae_jax.report.targets import Above, Near
from jmvae_jax.tasks.mnist.config import Config


def _row(model: str, alpha: float | None = None) -> Row:
  """The row of ``model`` (with ``alpha`` for JMVAE-kl), named e.g. 'jmvae_kl_0.1'."""
  if alpha is None:
    return Row(model, display_name(model), model)
  return Row(f'{model}_{alpha:g}', display_name(model, alpha), model, alpha)


ROWS = (_row('vae'), _row('cvae'), _row('cmma'), _row('jmvae_zero'),
        _row('jmvae_kl', 0.01), _row('jmvae_kl', 0.1), _row('jmvae_kl', 1.0))
# The successors of JMVAE (``models.MMVAE`` and the others), beside JMVAE when
# named: --rows=jmvae_zero,jmvae_kl_0.1,mvae,mmvae,mopoe.
SUCCESSOR_ROWS = (_row('mvae'), _row('mmvae'), _row('mopoe'))


TABLES = (
    Table('table1_marginal', 'Table 1 (left): test marginal log p(x), nats',
          (('multiple', 'marginal_multiple'), ('single', 'marginal_single'))),
    Table('table1_conditional',
          'Table 1 (right): test conditional log p(x|w), nats',
          (('multiple', 'conditional_multiple'),
           ('single', 'conditional_single'))),
    Table('table3_joint', 'Table 3: test joint log p(x,w), nats',
          (('joint', 'joint'),)),
    # Fig. 7 as a number.
    coherence_table('label', 'image'),
)

# The paper's numbers (NOTES.md), keyed by (row, results.json key). The VAE has
# only q(z|x), so its Table 1 entry is a single bound.
PAPER = {
    ('vae', 'marginal_single'): -86.91,
    ('jmvae_zero', 'marginal_multiple'): -86.89,
    ('jmvae_zero', 'marginal_single'): -86.89,
    ('jmvae_kl_0.01', 'marginal_multiple'): -86.89,
    ('jmvae_kl_0.01', 'marginal_single'): -86.55,
    ('jmvae_kl_0.1', 'marginal_multiple'): -86.86,
    ('jmvae_kl_0.1', 'marginal_single'): -86.73,
    ('jmvae_kl_1', 'marginal_multiple'): -89.20,
    ('jmvae_kl_1', 'marginal_single'): -89.20,
    ('cvae', 'conditional_multiple'): -83.80,
    ('cmma', 'conditional_multiple'): -86.12,
    ('jmvae_zero', 'conditional_multiple'): -84.64,
    ('jmvae_zero', 'conditional_single'): -4838.0,
    ('jmvae_kl_0.01', 'conditional_multiple'): -84.61,
    ('jmvae_kl_0.01', 'conditional_single'): -129.6,
    ('jmvae_kl_0.1', 'conditional_multiple'): -84.72,
    ('jmvae_kl_0.1', 'conditional_single'): -126.0,
    ('jmvae_kl_1', 'conditional_multiple'): -86.97,
    ('jmvae_kl_1', 'conditional_single'): -112.7,
    ('jmvae_zero', 'joint'): -86.96,
    ('jmvae_kl_0.01', 'joint'): -86.94,
    ('jmvae_kl_0.1', 'joint'): -86.93,
    ('jmvae_kl_1', 'joint'): -89.28,
}


_JMVAE_KL = ('jmvae_kl_0.01', 'jmvae_kl_0.1', 'jmvae_kl_1')

# What a reproduction of Tables 1 and 3 must meet: every bound within 0.3 nats
# of the paper, but the single-sample conditional bounds, whose spread grows
# with their size, within 5% (JMVAE-zero's single bounds collapse, -4838 in the
# paper, and are no target); and the paper's orders: JMVAE-kl's single
# conditional far above JMVAE-zero's (what the unimodal encoders are for),
# alpha 1 below alpha 0.1 on the marginal, CVAE ahead of CMMA.
TARGETS = (
    tuple(Near(cell, nats=0.3) for cell in PAPER
          if cell[1] != 'conditional_single'
          and cell != ('jmvae_zero', 'marginal_single'))
    + tuple(Near((row, 'conditional_single'), fraction=0.05)
            for row in _JMVAE_KL)
    + tuple(Above((row, 'conditional_single'),
                  ('jmvae_zero', 'conditional_single')) for row in _JMVAE_KL)
    + (Above(('jmvae_kl_0.1', 'marginal_multiple'),
             ('jmvae_kl_1', 'marginal_multiple')),
       Above(('cvae', 'conditional_multiple'),
             ('cmma', 'conditional_multiple'))))


def _comparable(config: Mapping[str, Any]) -> bool:
  """The paper's numbers are of models of image and label alone."""
  return config.get('modalities', 'image,label') == 'image,label'


MNIST = TableSet(
    ROWS, TABLES, PAPER,
    budget_fields=('epochs', 'warmup_epochs', 'train_examples', 'grad_clip_norm',
                   'grad_clip_value', 'adam_eps', 'decoder_layers',
                   'joint_tower_layers', 'joint_shared_layers', 'pixel_scale',
                   'eval_k', 'eval_prior_samples'),
    paper_budget='Paper: 500 epochs, warm-up 200, k=1000, 5000 prior samples.',
    comparable=_comparable, more_rows=SUCCESSOR_ROWS, targets=TARGETS,
    run_settings=lambda config: dataclasses.asdict(Config.from_dict(config)))
ROWS_BY_NAME = MNIST.rows_by_name
