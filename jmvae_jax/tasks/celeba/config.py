"""The one configuration object of a CelebA run; every flag of the binary fills it.

Defaults are the authors' CelebA settings (masa-su/jmvae,
``main_mvaegan_kl_z_x.py``): 100 epochs, KL warm-up over 20, batch 100, Adam with
lr 1e-4 and beta1 0.5, alpha 0.1, z of 128 dimensions, and k = 10 importance
samples for the test bounds.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from jmvae_jax.data import celeba
from jmvae_jax.tasks.celeba import gan, models as celeba_models
from jmvae_jax.training import settings

MODEL_NAMES = celeba_models.MODEL_NAMES + tuple(gan.GAN_BASES)
IMAGE_LOG_PROBS = ('channel_mean', 'sum')

# Fields that fix the parameters' shapes or meaning: a checkpoint only resumes
# under equal values.
RESUME_FIELDS = ('model', 'alpha', 'warmup_epochs', 'anneal_alpha',
                 'batch_size', 'learning_rate', 'beta1', 'gan_gamma',
                 'gan_feature_weight', 'seed', 'latent_dim', 'image_log_prob',
                 'max_images')


@dataclasses.dataclass(frozen=True)
class CelebAConfig:
  """Settings of one CelebA training-and-evaluation run.

  Attributes:
    model: 'jmvae_kl', 'jmvae_zero', 'vae', 'cvae', 'cmma', or 'jmvae_gan',
      'vae_gan', 'cvae_gan' and 'cmma_gan': JMVAE-kl, the VAE, CVAE and CMMA
      in the VAE-GAN scheme of ``jmvae_jax.tasks.celeba.gan``.
    alpha: weight of Eq. 4's unimodal KL terms (JMVAE-kl and JMVAE-GAN).
    epochs: passes over the training faces.
    warmup_epochs: epochs over which the KL weight rises linearly to 1.
    anneal_alpha: also warm up the alpha terms.
    batch_size: training examples per step.
    learning_rate: Adam's step size (every optimizer of a GAN model).
    beta1: Adam's first-moment decay.
    gan_gamma: weight of the generator's reconstruction terms against its
      adversarial term.
    gan_feature_weight: weight of Larsen et al.'s learned similarity; 0 keeps
      the authors' pixel-only scheme.
    seed: root of every random stream of the run.
    latent_dim: dimension of z.
    image_log_prob: 'channel_mean', the authors' log p(x|z) averaged over the
      three colour channels (Table 2's scale), or 'sum', the proper
      12,288-dimensional density (see ``jmvae_jax.tasks.celeba.models``).
    eval_k: importance samples per test example and bound.
    eval_prior_samples: prior samples for log p(w) in the conditional bounds.
    eval_batch_size: test examples per evaluation batch.
    eval_chunk_size: importance samples processed at once.
    checkpoint_every: save the whole train state every this many epochs and
      after the last (1: every epoch). A killed run resumes from the last
      save and trains the epochs after it again, to the same result; raise it
      on an accelerator, where saving can take longer than an epoch.
    max_images: use only the first this many images of the source (all when
      not given), for quick runs.
    data_dir: CelebA in its own layout (see ``jmvae_jax.data.celeba``).
    cache_dir: where the detected faces are cached; '' for no cache.
  """

  model: str = 'jmvae_gan'
  alpha: float = 0.1
  epochs: int = 100
  warmup_epochs: int = 20
  anneal_alpha: bool = False
  batch_size: int = 100
  learning_rate: float = 1e-4
  beta1: float = 0.5
  gan_gamma: float = 1.0
  gan_feature_weight: float = 0.0
  seed: int = 0
  latent_dim: int = 128
  image_log_prob: str = 'channel_mean'
  eval_k: int = 10
  eval_prior_samples: int = 5000
  eval_batch_size: int = 100
  eval_chunk_size: int = 10
  checkpoint_every: int = 1
  max_images: int | None = None
  data_dir: str = '~/data/celeba'
  cache_dir: str = '~/.cache/jmvae_jax/celeba'

  def __post_init__(self):
    problems = settings.choice_problems(self, 'model', MODEL_NAMES)
    problems += settings.choice_problems(self, 'image_log_prob',
                                         IMAGE_LOG_PROBS)
    problems += settings.range_problems(
        self, finite_nonnegative=('alpha', 'gan_gamma', 'gan_feature_weight'),
        at_least_one=('epochs', 'batch_size', 'latent_dim', 'eval_k',
                      'eval_prior_samples', 'eval_batch_size',
                      'eval_chunk_size', 'max_images',
                      'checkpoint_every'),
        at_least_zero=('warmup_epochs',), positive=('learning_rate',))
    if not 0 <= self.beta1 < 1:
      problems.append(f'--beta1 must be in [0, 1), got {self.beta1}')
    settings.raise_problems(problems)

  def build_model(self) -> Any:
    """The model these settings describe: a CelebA model or a ``gan.GAN``."""
    base = celeba_models.make_model(
        gan.GAN_BASES.get(self.model, self.model), latent_dim=self.latent_dim,
        channel_mean=self.image_log_prob == 'channel_mean')
    if self.model in gan.GAN_BASES:
      return gan.GAN(base, gamma=self.gan_gamma,
                     feature_weight=self.gan_feature_weight)
    return base

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def load_data(config: CelebAConfig) -> celeba.CelebAData:
  """CelebA from config.data_dir (attributes in {-1, 1}, matching tanh means)."""
  return celeba.load_celeba(
      os.path.expanduser(config.data_dir),
      cache_dir=(os.path.expanduser(config.cache_dir) if config.cache_dir
                 else None),
      attribute_values='signed', max_images=config.max_images)
