"""MNIST training: Adam on the JMVAE and baseline objectives, one jitted epoch.

Each step binarizes its images afresh (dynamic binarization), computes the loss
terms (``objectives.multimodal_loss_terms``), their gradients and the Adam
update, inside the shared epoch loop (``jmvae_jax.training.train.scan_epoch``).

The epoch is data-parallel over a mesh (see ``jmvae_jax.training.parallel``):
state and training set are replicated, each step's batch is split over the
devices, and the compiler inserts the all-reduces. Every device draws the same
permutation, and the random bits do not depend on the partitioning, so any
device count trains on the same batches with the same draws as one device.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jmvae_jax import models, objectives
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.training import parallel
from jmvae_jax.training import train as train_lib
from jmvae_jax.training.train import TrainState, scan_epoch


def make_optimizer(config: Config, learning_rate: Any = None
                   ) -> optax.GradientTransformation:
  """Adam (the paper: learning rate 1e-3), after clipping the gradient's global
  norm to config.grad_clip_norm when that is positive.

  ``learning_rate`` (a number or a traced scalar) overrides
  config.learning_rate; the optimizer state's structure never depends on it.
  """
  adam = optax.adam(config.learning_rate if learning_rate is None
                    else learning_rate, eps=config.adam_eps)
  if config.grad_clip_norm > 0:
    return optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), adam)
  return adam


def init_state(model: Any, config: Config) -> TrainState:
  """A fresh state of ``model`` with config.seed's parameters and Adam moments."""
  return train_lib.init_state(config.seed, model.init,
                              make_optimizer(config).init)


def binarize(key: jax.Array, images: jax.Array) -> jax.Array:
  """Bernoulli draws with the grey levels as probabilities: [..., D] -> {0, 1}."""
  return jax.random.bernoulli(key, images).astype(images.dtype)


# The settings a grid of models may vary member by member (see
# ``jmvae_jax.tasks.mnist.grid``), as a dict of scalars: Python numbers for one run, traced
# per-member values inside a vmapped grid.
MEMBER_SETTINGS = ('alpha', 'warmup_epochs', 'learning_rate')


def member_settings(config: Config) -> dict[str, float]:
  """The MEMBER_SETTINGS of ``config``."""
  return {name: getattr(config, name) for name in MEMBER_SETTINGS}


def epoch_function(
    model: Any, config: Config, mesh: jax.sharding.Mesh, num_classes: int = 10
) -> Callable[[TrainState, jax.Array, jax.Array, dict[str, Any]],
              tuple[TrainState, dict[str, jax.Array]]]:
  """The unjitted epoch: (state, images, labels, settings) -> (state, metrics).

  ``settings`` supplies MEMBER_SETTINGS (scalars, possibly traced); every other
  setting comes from ``config``. See ``make_train_epoch`` for the rest.
  """

  def loss_fn(params, x, w, key, kl_weight, alpha):
    terms = objectives.multimodal_loss_terms(
        model, params, models.mnist_observed(model, x, w), key=key)
    loss = objectives.total_loss(terms, kl_weight=kl_weight, alpha=alpha,
                                 anneal_alpha=config.anneal_alpha)
    return loss, {name: jnp.mean(v) for name, v in terms.items()}

  def train_epoch(state: TrainState, images: jax.Array, labels: jax.Array,
                  settings: dict[str, Any]):
    optimizer = make_optimizer(config, settings['learning_rate'])

    def train_step(params, opt_state, batch_indices, key, kl_weight):
      binarize_key, sample_key = jax.random.split(key)
      grey, batch_labels = parallel.shard_batch(
          (images[batch_indices], labels[batch_indices]), mesh)
      x = binarize(binarize_key, grey)
      w = jax.nn.one_hot(batch_labels, num_classes, dtype=x.dtype)
      (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(
          params, x, w, sample_key, kl_weight, settings['alpha'])
      # Optax mixes Python floats with its int32 step count, which strict
      # dtype promotion (a common user setting, and our tests') rejects.
      with jax.numpy_dtype_promotion('standard'):
        updates, opt_state = optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state,
              dict(terms, loss=loss))

    return scan_epoch(state, num_examples=images.shape[0],
                      batch_size=config.batch_size,
                      warmup_epochs=settings['warmup_epochs'],
                      step_fn=train_step)

  return train_epoch


def make_train_epoch(
    model: Any, config: Config, mesh: jax.sharding.Mesh, num_classes: int = 10
) -> Callable[[TrainState, jax.Array, jax.Array],
              tuple[TrainState, dict[str, jax.Array]]]:
  """A jitted function running one epoch: (state, images, labels) -> (state, metrics).

  Args:
    model: the model to train (see ``jmvae_jax.models``).
    config: the run's settings (batch size, alpha, warm-up, learning rate).
    mesh: the devices to train on; config.batch_size must be a multiple of
      their number.
    num_classes: width of the one-hot label modality.

  The returned function takes images float32 [N, 784] in [0, 1] and labels int32
  [N], shuffles them with fold_in(key, epoch), drops the last N % batch_size
  examples, and returns metrics averaged over the epoch's steps: every loss term,
  the total loss, the KL weight and FIRST_NONFINITE_STEP. ``state`` is donated;
  the new state and the metrics are replicated over ``mesh``.
  """
  epoch = epoch_function(model, config, mesh, num_classes)
  settings = member_settings(config)
  return jax.jit(lambda state, images, labels: epoch(state, images, labels,
                                                     settings),
                 donate_argnums=0, out_shardings=parallel.replicated(mesh))
