"""What inference with a CelebA run needs of its training faces, saved beside it.

The models see standardized pixels (``celeba_train.standardize`` with the
training set's per-pixel mean and standard deviation), so turning a new face
into a model input, or a decoder output back into a picture, needs those
statistics. The figures and the generation CLI also start from the average
attribute vector of the training faces. ``jmvae_jax.tasks.celeba.experiment.train_and_evaluate``
writes both into WORKDIR/data_stats.npz, so they never need the data set again.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from jmvae_jax.data import celeba
from jmvae_jax.tasks.celeba import train as celeba_train
from jmvae_jax.tasks.celeba.train import PixelStats

FILE_NAME = 'data_stats.npz'


class DataStats(NamedTuple):
  """Statistics of the training faces of one run.

  Attributes:
    pixels: per-pixel mean and standard deviation, [64, 64, 3] each.
    attribute_mean: mean attribute vector, float32 [40], in [-1, 1] for the
      {-1, 1} attributes the models train on.
  """

  pixels: PixelStats
  attribute_mean: np.ndarray


def compute(data: celeba.CelebAData) -> DataStats:
  """The statistics of ``data``'s training faces (attributes in {-1, 1})."""
  return DataStats(
      pixels=celeba_train.pixel_stats(data.train_images),
      attribute_mean=np.mean(data.train_attributes, axis=0, dtype=np.float64
                             ).astype(np.float32))


def save(workdir: str, stats: DataStats) -> str:
  """Writes WORKDIR/data_stats.npz atomically; returns its path."""
  path = os.path.join(workdir, FILE_NAME)
  tmp = path + '.tmp.npz'
  np.savez(tmp, pixel_mean=np.asarray(stats.pixels.mean),
           pixel_std=np.asarray(stats.pixels.std),
           attribute_mean=np.asarray(stats.attribute_mean))
  os.replace(tmp, path)
  return path


def load(workdir: str) -> DataStats | None:
  """The statistics saved in WORKDIR, or None if it has none (an older run)."""
  path = os.path.join(workdir, FILE_NAME)
  if not os.path.exists(path):
    return None
  with np.load(path) as saved:
    return DataStats(
        pixels=PixelStats(saved['pixel_mean'], saved['pixel_std']),
        attribute_mean=saved['attribute_mean'])
