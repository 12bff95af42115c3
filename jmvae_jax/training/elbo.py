"""ELBO training of a keyed model: Adam on its objective, one jitted epoch.

Each step draws a batch, turns it into the model's observations with the
task's ``Prepare`` (MNIST: binarize afresh and one-hot the labels; PolyMNIST:
scale the colour images), computes the loss terms
(``objectives.multimodal_loss_terms``), their gradients and the Adam update,
inside the shared epoch loop (``jmvae_jax.training.train.scan_epoch``).

The epoch is data-parallel over a mesh (see ``jmvae_jax.training.parallel``):
state and training set are replicated, each step's batch is split over the
devices, and the compiler inserts the all-reduces. Every device draws the same
permutation, and the random bits do not depend on the partitioning, so any
device count trains on the same batches with the same draws as one device.

The settings it reads are fields of ``ElboConfig``, the base of every ELBO
task's config (MNIST's, PolyMNIST's).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jmvae_jax import objectives
from jmvae_jax.training import parallel
from jmvae_jax.training import settings as setting_checks
from jmvae_jax.training import train as train_lib
from jmvae_jax.training.optim import apply_gradients
from jmvae_jax.training.train import TrainState, scan_epoch

# (key, training data, batch indices [B]) -> {modality name: [B, dim]}: the
# batch as the model observes it, sharded over the mesh. The training data is
# any pytree of arrays with the examples on their leading axis.
Prepare = Callable[[jax.Array, Any, jax.Array], dict[str, jax.Array]]

@dataclasses.dataclass(frozen=True)
class ElboConfig:
  """The settings every ELBO-trained run has; a task's config adds its own.

  A task's config subclasses this, re-declaring a field to give it another
  default, and extends ``problems`` with the checks of its own fields.

  Attributes:
    model: the model to train (each task lists its choices).
    alpha: weight of the unimodal KL terms, alpha sum_m KL(q(z|X) ||
      q(z|x_m)) (Eq. 4; JMVAE-kl only).
    epochs: passes over the training examples.
    warmup_epochs: epochs over which the KL weight rises linearly to 1.
    anneal_alpha: also warm up the alpha terms (MultiVae's choice); by default
      only KL(q(z|X) || p(z)) is warmed up, as in the authors' code.
    batch_size: training examples per Adam step.
    learning_rate: Adam's step size.
    adam_eps: Adam's epsilon (optax's default 1e-8; the authors' code 1e-4).
    grad_clip_norm: clip each step's gradient to this global norm before Adam
      (the authors' code: 5); 0 turns clipping off.
    grad_clip_value: then clip each element of the gradient to [-value,
      value] (the authors' code: 1, after its norm clip of 5); 0 turns it off.
    train_examples: train on the first this many training examples.
    seed: root of every random stream of the run (init, shuffling,
      reparameterization).
    latent_dim: dimension of z.
    hidden_width: width of every hidden dense layer (two per encoder tower).
    decoder_layers: hidden layers of each decoder.
    eval_k: importance samples per test example for the bounds.
    eval_batch_size: test examples per evaluation batch.
    eval_chunk_size: importance samples per scan step of the bounds: memory
      grows with it, and it never changes the result. 50 is the fast choice on
      a CPU; on a GPU, larger chunks fill the device better (see
      ``jmvae_jax.bounds``).
    checkpoint_every: save the whole train state every this many epochs and
      after the last (1: every epoch). A killed run resumes from the last
      save and trains the epochs after it again, to the same result; raise it
      on an accelerator, where saving can take longer than an epoch.
    data_dir: where the data set is looked for and cached.
    verify_data: check the standard MNIST files in data_dir against their
      known SHA-256 (turn off for your own variant of those files).
  """

  model: str = 'jmvae_kl'
  alpha: float = 0.1
  epochs: int = 10
  warmup_epochs: int = 5
  anneal_alpha: bool = False
  batch_size: int = 100
  learning_rate: float = 1e-3
  adam_eps: float = 1e-8
  grad_clip_norm: float = 0.0
  grad_clip_value: float = 0.0
  train_examples: int = 50_000
  seed: int = 0
  latent_dim: int = 64
  hidden_width: int = 512
  decoder_layers: int = 2
  eval_k: int = 1000
  eval_batch_size: int = 100
  eval_chunk_size: int = 50
  checkpoint_every: int = 1
  data_dir: str = '~/.cache/jmvae_jax'
  verify_data: bool = True

  def __post_init__(self):
    setting_checks.raise_problems(self.problems())

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> ElboConfig:
    """The settings of a config.json; keys that are not fields are ignored."""
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})

  def problems(self) -> list[str]:
    """One message per bad setting (``jmvae_jax.training.settings``)."""
    problems = setting_checks.range_problems(
        self,
        finite_nonnegative=('alpha', 'grad_clip_norm', 'grad_clip_value'),
        at_least_one=('epochs', 'batch_size', 'latent_dim', 'hidden_width',
                      'decoder_layers', 'train_examples', 'eval_k',
                      'eval_batch_size', 'eval_chunk_size',
                      'checkpoint_every'),
        at_least_zero=('warmup_epochs',),
        positive=('learning_rate', 'adam_eps'))
    if self.batch_size > self.train_examples:
      problems.append(f'--batch_size={self.batch_size} is larger than the '
                      f'training set (--train_examples={self.train_examples}): '
                      'an epoch would take no step; lower --batch_size')
    return problems

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


# The settings a grid of models may vary member by member (see
# ``jmvae_jax.tasks.mnist.grid``), as a dict of scalars: Python numbers for
# one run, traced per-member values inside a vmapped grid.
MEMBER_SETTINGS = ('alpha', 'warmup_epochs', 'learning_rate')


def make_optimizer(config: Any, learning_rate: Any = None
                   ) -> optax.GradientTransformation:
  """Adam (the paper: learning rate 1e-3), after clipping the gradient's global
  norm to config.grad_clip_norm and then each of its elements to
  config.grad_clip_value, each when positive.

  ``learning_rate`` (a number or a traced scalar) overrides
  config.learning_rate; the optimizer state's structure never depends on it.
  """
  adam = optax.adam(config.learning_rate if learning_rate is None
                    else learning_rate, eps=config.adam_eps)
  clips = []
  if config.grad_clip_norm > 0:
    clips.append(optax.clip_by_global_norm(config.grad_clip_norm))
  if config.grad_clip_value > 0:
    clips.append(optax.clip(config.grad_clip_value))
  return optax.chain(*clips, adam) if clips else adam


def init_state(model: Any, config: Any) -> TrainState:
  """A fresh state of ``model`` with config.seed's parameters and Adam moments."""
  return train_lib.init_state(config.seed, model.init,
                              make_optimizer(config).init)


def member_settings(config: Any) -> dict[str, float]:
  """The MEMBER_SETTINGS of ``config``."""
  return {name: getattr(config, name) for name in MEMBER_SETTINGS}


def epoch_function(model: Any, config: Any, prepare: Prepare
                   ) -> Callable[[TrainState, Any, dict[str, Any]],
                                 tuple[TrainState, dict[str, jax.Array]]]:
  """The unjitted epoch: (state, data, settings) -> (state, metrics).

  ``settings`` supplies MEMBER_SETTINGS (scalars, possibly traced); every other
  setting comes from ``config``. Step s splits its key in two: the first goes
  to ``prepare``, the second draws the objective's samples. See
  ``make_train_epoch`` for the rest.
  """

  def loss_fn(params, observed, key, kl_weight, alpha):
    terms = objectives.multimodal_loss_terms(model, params, observed, key=key)
    loss = objectives.total_loss(terms, kl_weight=kl_weight, alpha=alpha,
                                 anneal_alpha=config.anneal_alpha)
    return loss, {name: jnp.mean(v) for name, v in terms.items()}

  def train_epoch(state: TrainState, data: Any, settings: dict[str, Any]):
    optimizer = make_optimizer(config, settings['learning_rate'])

    def train_step(params, opt_state, batch_indices, key, kl_weight):
      prepare_key, sample_key = jax.random.split(key)
      observed = prepare(prepare_key, data, batch_indices)
      (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(
          params, observed, sample_key, kl_weight, settings['alpha'])
      params, opt_state = apply_gradients(optimizer, grads, opt_state, params)
      return params, opt_state, dict(terms, loss=loss)

    return scan_epoch(state,
                      num_examples=jax.tree.leaves(data)[0].shape[0],
                      batch_size=config.batch_size,
                      warmup_epochs=settings['warmup_epochs'],
                      step_fn=train_step)

  return train_epoch


def make_train_epoch(model: Any, config: Any, mesh: jax.sharding.Mesh,
                     prepare: Prepare
                     ) -> Callable[[TrainState, Any],
                                   tuple[TrainState, dict[str, jax.Array]]]:
  """A jitted function running one epoch: (state, data) -> (state, metrics).

  Args:
    model: the model to train (see ``jmvae_jax.models``).
    config: the run's settings (batch size, alpha, warm-up, learning rate).
    mesh: the devices to train on; config.batch_size must be a multiple of
      their number.
    prepare: the task's batch -> observations.

  The returned function shuffles the training data with fold_in(key, epoch),
  drops the last N % batch_size examples, and returns metrics averaged over
  the epoch's steps: every loss term, the total loss, the KL weight and
  FIRST_NONFINITE_STEP. ``state`` is donated; the new state and the metrics
  are replicated over ``mesh``.
  """
  epoch = epoch_function(model, config, prepare)
  settings = member_settings(config)
  return jax.jit(lambda state, data: epoch(state, data, settings),
                 donate_argnums=0, out_shardings=parallel.replicated(mesh))
