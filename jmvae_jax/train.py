"""Training: the train state, a jitted epoch of Adam steps, and the resumable loop.

One epoch is one ``jax.jit`` region: a ``lax.scan`` over the shuffled batches,
each step binarizing its images afresh (dynamic binarization), computing the loss
terms, their gradients and the Adam update. The state is donated, so parameters
and optimizer moments are updated in place, and the host reads metrics once per
epoch, never per step.

The epoch is data-parallel over a mesh (see ``jmvae_jax.parallel``): state and
training set are replicated, each step's batch is split over the devices, and
the compiler inserts the all-reduces. Every device draws the same permutation,
and the random bits do not depend on the partitioning, so any device count
trains on the same batches with the same draws as one device.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

from jmvae_jax import models, objectives, parallel
from jmvae_jax.config import Config

# The metric that names the first step of an epoch with a non-finite metric.
FIRST_NONFINITE_STEP = 'first_nonfinite_step'

# Independent random streams, each folded out of the run's root key.
_INIT_STREAM, _SHUFFLE_STREAM, _STEP_STREAM = 0, 1, 2


@flax.struct.dataclass
class TrainState:
  """Everything a run needs to continue: saved whole in every checkpoint.

  Attributes:
    params: the model's parameters.
    opt_state: Adam's moments and count.
    step: number of optimizer steps taken (int32 scalar).
    epoch: number of completed epochs (int32 scalar).
    key: the run's root PRNG key (typed); per-step keys are fold_in(key, step).
  """

  params: Any
  opt_state: Any
  step: jax.Array
  epoch: jax.Array
  key: jax.Array


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
  """A fresh state: parameters from fold_in(key(seed), init stream)."""
  key = jax.random.key(config.seed)
  params = model.init(jax.random.fold_in(key, _INIT_STREAM))
  return TrainState(
      params=params,
      opt_state=make_optimizer(config).init(params),
      step=jnp.zeros((), jnp.int32),
      epoch=jnp.zeros((), jnp.int32),
      key=key,
  )


def binarize(key: jax.Array, images: jax.Array) -> jax.Array:
  """Bernoulli draws with the grey levels as probabilities: [..., D] -> {0, 1}."""
  return jax.random.bernoulli(key, images).astype(images.dtype)


# (params, opt_state, batch indices [B], key, kl_weight) ->
# (params, opt_state, {name: scalar metric}): one optimizer step of a trainer.
StepFn = Callable[[Any, Any, jax.Array, jax.Array, jax.Array],
                  tuple[Any, Any, dict[str, jax.Array]]]


def scan_epoch(state: TrainState, *, num_examples: int, batch_size: int,
               warmup_epochs: int | jax.Array, step_fn: StepFn
               ) -> tuple[TrainState, dict[str, jax.Array]]:
  """One epoch as a ``lax.scan`` of ``step_fn`` over shuffled batches.

  The loop every trainer shares: the examples are permuted with
  fold_in(fold_in(key, shuffle stream), epoch), the last num_examples %
  batch_size are dropped, step s gets the key fold_in(fold_in(key, step
  stream), s) and the epoch's KL warm-up weight. Returns the new state (step and
  epoch advanced) and the step metrics averaged over the epoch, plus
  'kl_weight' and FIRST_NONFINITE_STEP: the optimizer step (counted over the
  run) whose metrics were first not finite, or -1. Call it inside jit.
  """
  steps = num_examples // batch_size
  shuffle_key = jax.random.fold_in(
      jax.random.fold_in(state.key, _SHUFFLE_STREAM), state.epoch)
  order = jax.random.permutation(shuffle_key, num_examples)
  batches = order[:steps * batch_size].reshape(steps, batch_size)
  step_root = jax.random.fold_in(state.key, _STEP_STREAM)
  kl_weight = objectives.kl_warmup_weight(state.epoch, warmup_epochs)

  def body(carry, batch_indices):
    params, opt_state, step = carry
    params, opt_state, metrics = step_fn(
        params, opt_state, batch_indices, jax.random.fold_in(step_root, step),
        kl_weight)
    return (params, opt_state, step + 1), metrics

  (params, opt_state, step), per_step = jax.lax.scan(
      body, (state.params, state.opt_state, state.step), batches)
  metrics = {name: jnp.mean(v) for name, v in per_step.items()}
  metrics['kl_weight'] = kl_weight
  finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in per_step.values()]),
                   axis=0)
  metrics[FIRST_NONFINITE_STEP] = jnp.where(
      jnp.all(finite), -1, state.step + jnp.argmin(finite))
  return state.replace(params=params, opt_state=opt_state, step=step,
                       epoch=state.epoch + 1), metrics


# The settings a grid of models may vary member by member (see
# ``jmvae_jax.grid``), as a dict of scalars: Python numbers for one run, traced
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
