"""MNIST training: the ELBO epoch of ``jmvae_jax.training.elbo`` on binarized digits.

Each step binarizes its images afresh (dynamic binarization) and one-hots the
labels; ``jmvae_jax.training.elbo`` does the rest (the objective, Adam, the
data-parallel epoch).
"""

from __future__ import annotations

from typing import Any, Callable

import jax

from jmvae_jax import models
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.training import elbo, parallel
from jmvae_jax.training.train import TrainState


def binarize(key: jax.Array, images: jax.Array) -> jax.Array:
  """Bernoulli draws with the grey levels as probabilities: [..., D] -> {0, 1}."""
  return jax.random.bernoulli(key, images).astype(images.dtype)


def prepare(model: Any, mesh: jax.sharding.Mesh, num_classes: int = 10
            ) -> elbo.Prepare:
  """MNIST's batch -> observations: data (images [N, 784], labels [N]) ->
  {image: a fresh binarization [B, 784], label: one-hot [B, 10], ...}."""

  def observe(key, data, batch_indices):
    images, labels = data
    grey, batch_labels = parallel.shard_batch(
        (images[batch_indices], labels[batch_indices]), mesh)
    x = binarize(key, grey)
    w = jax.nn.one_hot(batch_labels, num_classes, dtype=x.dtype)
    return models.mnist_observed(model, x, w)

  return observe


def epoch_function(
    model: Any, config: Config, mesh: jax.sharding.Mesh, num_classes: int = 10
) -> Callable[[TrainState, jax.Array, jax.Array, dict[str, Any]],
              tuple[TrainState, dict[str, jax.Array]]]:
  """The unjitted epoch: (state, images, labels, settings) -> (state, metrics).

  ``settings`` supplies ``elbo.MEMBER_SETTINGS`` (scalars, possibly traced);
  every other setting comes from ``config``. See ``make_train_epoch``.
  """
  epoch = elbo.epoch_function(model, config, prepare(model, mesh, num_classes))
  return lambda state, images, labels, settings: epoch(
      state, (images, labels), settings)


def make_train_epoch(
    model: Any, config: Config, mesh: jax.sharding.Mesh, num_classes: int = 10
) -> Callable[[TrainState, jax.Array, jax.Array],
              tuple[TrainState, dict[str, jax.Array]]]:
  """A jitted function running one epoch: (state, images, labels) -> (state, metrics).

  Images float32 [N, 784] in [0, 1], labels int32 [N]; otherwise as
  ``elbo.make_train_epoch`` (shuffled with fold_in(key, epoch), the last N %
  batch_size dropped, metrics averaged over the steps, state donated).
  """
  epoch = elbo.make_train_epoch(model, config, mesh,
                                prepare(model, mesh, num_classes))
  return lambda state, images, labels: epoch(state, (images, labels))
