"""The configuration of a PolyMNIST run; every flag of ``experiments.polymnist`` fills it.

The models are JMVAE-kl and JMVAE-zero over the five modalities m0 ... m4
(``jmvae_jax.data.polymnist``), each a 28 x 28 colour image flattened to 2,352
values in [0, 1]. Architecture: the MLP alternative to the published
experiments' convolutional networks (which XLA's CPU backend trains several
times slower): the MNIST JMVAE's dense towers, one per modality in the joint
encoder, a unimodal encoder per modality (JMVAE-kl), a decoder per modality.
Likelihood: each pixel Laplace with a fixed scale around the decoder's output,
as MoPoE's PolyMNIST decoders (scale 0.75).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import jax
import jax.numpy as jnp

from jmvae_jax import distributions, models
from jmvae_jax.data import polymnist
from jmvae_jax.training import settings

MODEL_NAMES = ('jmvae_kl', 'jmvae_zero')
IMAGE_DIM = polymnist.SIDE * polymnist.SIDE * 3

# Fields that change the trained parameters: a run only resumes under equal
# values (the number of epochs and the evaluation settings may change).
RESUME_FIELDS = ('model', 'alpha', 'warmup_epochs', 'anneal_alpha',
                 'batch_size', 'learning_rate', 'adam_eps', 'grad_clip_norm',
                 'train_examples', 'seed', 'data_seed', 'latent_dim',
                 'hidden_width', 'decoder_layers', 'laplace_scale',
                 'subset_encoder')


def pixel_means(output: jax.Array) -> jax.Array:
  """The readout of a PolyMNIST decoder: its Laplace locations, clipped to [0, 1]."""
  return jnp.clip(output, 0.0, 1.0)


@functools.lru_cache(maxsize=None)
def modalities(laplace_scale: float) -> tuple[models.Modality, ...]:
  """The five modalities, one object per scale (so models built twice are equal)."""
  log_prob = functools.partial(distributions.laplace_log_prob,
                               scale=laplace_scale)
  return tuple(models.Modality(name, IMAGE_DIM, log_prob, pixel_means)
               for name in polymnist.MODALITY_NAMES)


@dataclasses.dataclass(frozen=True)
class PolyMNISTConfig:
  """Settings of one PolyMNIST training-and-evaluation run.

  Attributes:
    model: 'jmvae_kl' or 'jmvae_zero'.
    alpha: weight of the five unimodal KL terms, alpha sum_m KL(q(z|X) ||
      q(z|x_m)) (JMVAE-kl only).
    epochs: passes over the training examples.
    warmup_epochs: epochs over which the KL weight rises linearly to 1.
    anneal_alpha: also warm up the alpha terms.
    batch_size: training examples per Adam step.
    learning_rate: Adam's step size.
    adam_eps: Adam's epsilon.
    grad_clip_norm: clip each step's gradient to this global norm (0: off).
    train_examples: train on the first this many of the 60,000 training
      examples.
    seed: root of every random stream of the run (init, shuffling,
      reparameterization).
    data_seed: the seed PolyMNIST is generated with here (unused when the
      published files are read).
    latent_dim: dimension of z.
    hidden_width: width of every hidden dense layer (two per encoder tower).
    decoder_layers: hidden layers of each decoder.
    laplace_scale: the fixed scale of each pixel's Laplace likelihood.
    subset_encoder: q(z|X_S) for 2 to 4 modalities of JMVAE-kl:
      'product_of_experts' of the unimodal encoders, or 'zeros' (the joint
      encoder with the missing modalities as zeros).
    eval_k: importance samples of each test log-likelihood.
    eval_examples: the first this many test examples are evaluated.
    eval_batch_size: test examples per evaluation step.
    eval_chunk_size: importance samples per scan step (memory only).
    separability_examples: training examples the logistic regressions of the
      latent's linear separability are fitted on.
    checkpoint_every: write a checkpoint every this many epochs (and after
      the last).
    data_dir: holds PolyMNIST/ (the published files) or the MNIST it is
      generated from, and the cached digit classifiers.
    verify_data: check the standard MNIST files in data_dir against their
      known SHA-256 before generating from them.
  """

  model: str = 'jmvae_kl'
  alpha: float = 0.1
  epochs: int = 30
  warmup_epochs: int = 10
  anneal_alpha: bool = False
  batch_size: int = 100
  learning_rate: float = 1e-3
  adam_eps: float = 1e-8
  grad_clip_norm: float = 5.0
  train_examples: int = 60_000
  seed: int = 0
  data_seed: int = 0
  latent_dim: int = 64
  hidden_width: int = 512
  decoder_layers: int = 2
  laplace_scale: float = 0.75
  subset_encoder: str = 'product_of_experts'
  eval_k: int = 100
  eval_examples: int = 1000
  eval_batch_size: int = 100
  eval_chunk_size: int = 50
  separability_examples: int = 5000
  checkpoint_every: int = 1
  data_dir: str = '~/.cache/jmvae_jax'
  verify_data: bool = True

  def __post_init__(self):
    problems = settings.choice_problems(self, 'model', MODEL_NAMES)
    problems += settings.choice_problems(self, 'subset_encoder',
                                         models.SUBSET_ENCODERS)
    problems += settings.range_problems(
        self, finite_nonnegative=('alpha', 'grad_clip_norm'),
        at_least_one=('epochs', 'batch_size', 'train_examples', 'latent_dim',
                      'hidden_width', 'decoder_layers', 'eval_k',
                      'eval_examples', 'eval_batch_size', 'eval_chunk_size',
                      'separability_examples', 'checkpoint_every'),
        at_least_zero=('warmup_epochs',),
        positive=('learning_rate', 'adam_eps', 'laplace_scale'))
    if self.batch_size > self.train_examples:
      problems.append(f'--batch_size={self.batch_size} is larger than the '
                      f'training set (--train_examples={self.train_examples}); '
                      'lower --batch_size')
    settings.raise_problems(problems)

  def build_model(self) -> models.JMVAE:
    """The JMVAE these settings describe."""
    return models.make_model(
        self.model, modalities=modalities(self.laplace_scale),
        latent_dim=self.latent_dim,
        encoder_hidden=(self.hidden_width,) * 2,
        decoder_hidden=(self.hidden_width,) * self.decoder_layers,
        subset_encoder=self.subset_encoder)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> PolyMNISTConfig:
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})
