"""The train state and the epoch loop every trainer shares.

One epoch is one ``jax.jit`` region: a ``lax.scan`` over the shuffled batches,
each step a trainer's update (``StepFn``). The state is donated, so parameters
and optimizer moments are updated in place, and the host reads metrics once per
epoch, never per step. The data sets' trainers build on it:
``jmvae_jax.tasks.mnist.train`` and ``jmvae_jax.tasks.celeba.train``.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp

from jmvae_jax import objectives

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


def init_state(seed: int, init_params: Callable[[jax.Array], Any],
               init_opt_state: Callable[[Any], Any]) -> TrainState:
  """A fresh state: parameters from init_params(fold_in(key(seed), init stream))."""
  key = jax.random.key(seed)
  params = init_params(jax.random.fold_in(key, _INIT_STREAM))
  return TrainState(params=params, opt_state=init_opt_state(params),
                    step=jnp.zeros((), jnp.int32),
                    epoch=jnp.zeros((), jnp.int32), key=key)


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
