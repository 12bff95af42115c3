"""The configuration of a PolyMNIST run; every flag of ``experiments.polymnist`` fills it.

The models are JMVAE-kl, JMVAE-zero and MVAE over the five modalities m0 ... m4
(``jmvae_jax.data.polymnist``), each a 28 x 28 colour image flattened to 2,352
values in [0, 1]. Architecture: the MLP alternative to the published
experiments' convolutional networks (which XLA's CPU backend trains several
times slower): the MNIST JMVAE's dense towers, one per modality in the joint
encoder (JMVAE), a unimodal encoder per modality (JMVAE-kl, MVAE), a decoder per
modality.
Likelihood: each pixel Laplace with a fixed scale around the decoder's output,
as MoPoE's PolyMNIST decoders (scale 0.75).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from jmvae_jax import distributions, models
from jmvae_jax.data import polymnist
from jmvae_jax.training import settings
from jmvae_jax.training.elbo import ElboConfig

MODEL_NAMES = models.MULTIMODAL_NAMES
IMAGE_DIM = polymnist.SIDE * polymnist.SIDE * 3

# Fields that change the trained parameters: a run only resumes under equal
# values (the number of epochs and the evaluation settings may change).
RESUME_FIELDS = ('model', 'alpha', 'warmup_epochs', 'anneal_alpha',
                 'batch_size', 'learning_rate', 'adam_eps', 'grad_clip_norm',
                 'grad_clip_value', 'train_examples', 'seed', 'data_seed',
                 'latent_dim',
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
class PolyMNISTConfig(ElboConfig):
  """Settings of one PolyMNIST training-and-evaluation run (``ElboConfig`` and these).

  Attributes:
    model: 'jmvae_kl', 'jmvae_zero', or a successor without a joint encoder
      (alpha unused): 'mvae' (``models.MVAE``, a product of the unimodal
      experts and the prior), 'mmvae' (``models.MMVAE``, their mixture) or
      'mopoe' (``models.MoPoE``, a mixture of products).
    alpha: weight of the five unimodal KL terms, alpha sum_m KL(q(z|X) ||
      q(z|x_m)) (JMVAE-kl only).
    train_examples: train on the first this many of the 60,000 training
      examples.
    eval_k: importance samples of each test log-likelihood.
    data_dir: holds PolyMNIST/ (the published files) or the MNIST it is
      generated from, and the cached digit classifiers.
    verify_data: check the standard MNIST files in data_dir against their
      known SHA-256 before generating from them.
    data_seed: the seed PolyMNIST is generated with here (unused when the
      published files are read).
    laplace_scale: the fixed scale of each pixel's Laplace likelihood.
    subset_encoder: q(z|X_S) for 2 to 4 modalities of JMVAE-kl:
      'product_of_experts' of the unimodal encoders, or 'zeros' (the joint
      encoder with the missing modalities as zeros).
    eval_examples: the first this many test examples are evaluated.
    separability_examples: training examples the logistic regressions of the
      latent's linear separability are fitted on.
  """

  epochs: int = 30
  warmup_epochs: int = 10
  grad_clip_norm: float = 5.0
  train_examples: int = 60_000
  eval_k: int = 100
  data_seed: int = 0
  laplace_scale: float = 0.75
  subset_encoder: str = 'product_of_experts'
  eval_examples: int = 1000
  separability_examples: int = 5000

  def problems(self) -> list[str]:
    problems = super().problems()
    problems += settings.choice_problems(self, 'model', MODEL_NAMES)
    problems += settings.choice_problems(self, 'subset_encoder',
                                         models.SUBSET_ENCODERS)
    problems += settings.range_problems(
        self, at_least_one=('eval_examples', 'separability_examples'),
        positive=('laplace_scale',))
    return problems

  def build_model(self) -> Any:
    """The model these settings describe."""
    extra = ({'subset_encoder': self.subset_encoder}
             if self.model.startswith('jmvae') else {})
    return models.make_model(
        self.model, modalities=modalities(self.laplace_scale),
        latent_dim=self.latent_dim,
        encoder_hidden=(self.hidden_width,) * 2,
        decoder_hidden=(self.hidden_width,) * self.decoder_layers, **extra)
