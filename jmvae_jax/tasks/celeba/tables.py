"""Table 2 of the paper (CelebA): its rows, columns and numbers, as a ``TableSet``.

Runs, resumption and the tables themselves are ``jmvae_jax.report.tables``';
each row is a ``jmvae_jax.tasks.celeba.experiment.train_and_evaluate`` run of a
GAN model, whose bounds are those of its VAE part, on the authors' scale
(``image_log_prob='channel_mean'``, see ``jmvae_jax.tasks.celeba.models``).

Which bound each paper number is: the VAE-GAN has only q(z|x), so its number is
a single bound, as the VAE's in Table 1; CVAE-GAN and CMMA-GAN have only the
multiple bound. The paper gives JMVAE-GAN one conditional number, which we read
as the multiple bound: Table 1 compares that bound with CVAE and CMMA, and its
single conditional bounds lie far below theirs (-112.7 to -4838 against
-83.80 and -86.12), where Table 2's JMVAE-GAN number lies above.
"""

from __future__ import annotations

from typing import Any, Mapping

from jmvae_jax.report.tables import Row, Table, TableSet, coherence_table

ROWS = (
    Row('vae_gan', 'VAE-GAN', 'vae_gan'),
    Row('cvae_gan', 'CVAE-GAN', 'cvae_gan'),
    Row('cmma_gan', 'CMMA-GAN', 'cmma_gan'),
    # alpha 0.1: the authors' CelebA default.
    Row('jmvae_gan', 'JMVAE-GAN', 'jmvae_gan', 0.1),
)

TABLES = (
    Table('table2_marginal',
          'Table 2 (left): CelebA test marginal log p(x), nats',
          (('multiple', 'marginal_multiple'),
           ('single', 'marginal_single'))),
    Table('table2_conditional',
          'Table 2 (right): CelebA test conditional log p(x|w), nats',
          (('multiple', 'conditional_multiple'),
           ('single', 'conditional_single'))),
    # Fig. 4 as a number.
    coherence_table('attributes', 'image'),
)

# The paper's numbers (NOTES.md), keyed by (row, results.json key).
PAPER = {
    ('vae_gan', 'marginal_single'): -4439.0,
    ('jmvae_gan', 'marginal_multiple'): -4141.0,
    ('jmvae_gan', 'marginal_single'): -4144.0,
    ('cvae_gan', 'conditional_multiple'): -4152.0,
    ('cmma_gan', 'conditional_multiple'): -4147.0,
    ('jmvae_gan', 'conditional_multiple'): -4130.0,
}


def _comparable(config: Mapping[str, Any]) -> bool:
  """Table 2 is on the authors' scale of the image likelihood."""
  return config.get('image_log_prob') == 'channel_mean'


CELEBA = TableSet(
    ROWS, TABLES, PAPER,
    budget_fields=('epochs', 'warmup_epochs', 'eval_k', 'eval_prior_samples',
                   'max_images', 'image_log_prob'),
    paper_budget=("Paper (authors' code): 100 epochs, warm-up 20, k=10, "
                  '90% of 191,899 faces, channel_mean.'),
    comparable=_comparable)
