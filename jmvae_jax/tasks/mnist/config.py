"""The one configuration object of an MNIST run; every flag of the binary fills it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from jmvae_jax import models
from jmvae_jax.training import settings

# The paper's MNIST schedule (Sec. 4.2; N_t from a reproduction that matched Table 1).
PAPER_EPOCHS = 500
PAPER_WARMUP_EPOCHS = 200

# What ``--paper`` sets (explicit flags still win): the paper's schedule, with
# learning curves, and two settings of the authors' released code that the
# paper's text does not give: training on all 60,000 training-and-validation
# images (the text says 50,000) and clipping the gradient norm at 5.
PAPER_SETTINGS = {
    'epochs': PAPER_EPOCHS,
    'warmup_epochs': PAPER_WARMUP_EPOCHS,
    'train_examples': 60_000,
    'grad_clip_norm': 5.0,
    'curve_every': 25,
}

# Fields that change the trained parameters: a run only resumes under equal
# values (the number of epochs and the evaluation settings may change).
RESUME_FIELDS = ('model', 'alpha', 'warmup_epochs', 'anneal_alpha',
                 'batch_size', 'learning_rate', 'adam_eps', 'grad_clip_norm',
                 'train_examples', 'seed', 'latent_dim', 'hidden_width',
                 'decoder_layers', 'matmul_dtype', 'modalities')


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings of one training-and-evaluation run.

  Attributes:
    model: 'jmvae_kl', 'jmvae_zero', 'vae', 'cvae' or 'cmma'.
    alpha: weight of the two unimodal KL terms of Eq. 4 (JMVAE-kl only).
    epochs: passes over the training images.
    warmup_epochs: epochs over which the KL weight rises linearly to 1.
    anneal_alpha: also warm up the alpha terms (MultiVae's choice); by default only
      KL(q(z|x,w) || p(z)) is warmed up, as in the authors' code.
    batch_size: training examples per Adam step.
    learning_rate: Adam's step size.
    adam_eps: Adam's epsilon (optax's default 1e-8; the authors' code 1e-4).
    grad_clip_norm: clip each step's gradient to this global norm before Adam
      (the authors' code: 5); 0 turns clipping off.
    train_examples: train on the first this many of MNIST's 60,000 training
      and validation images: 50,000 as the paper's text says, 60,000 as the
      authors' code does.
    seed: root of every random stream of the run (init, shuffling, binarization,
      reparameterization).
    latent_dim: dimension of z.
    hidden_width: width of every hidden dense layer (two per encoder tower).
    decoder_layers: hidden layers of each decoder (the paper's text: 3, the
      authors' code: 2).
    modalities: the model's modalities, comma-separated: 'image,label' (the
      paper's), or for JMVAE 'image,label,rotated' with the image turned 180
      degrees as a third modality (``models.MNIST_MODALITIES``). The reported
      bounds are the paper's, over image and label.
    matmul_dtype: input type of the dense products in training, 'float32' or
      'bfloat16' (accumulated in float32; parameters, optimizer state,
      likelihoods and KLs stay float32). Evaluation always uses float32.
    eval_k: importance samples per test example for the bounds.
    eval_prior_samples: prior samples for log p(w) in the multiple conditional bound.
    eval_batch_size: test examples per evaluation batch.
    eval_chunk_size: importance samples per scan step of the bounds: memory
      grows with it, and it never changes the result. 50 is the fast choice on
      a CPU; on a GPU, larger chunks fill the device better (see
      ``jmvae_jax.bounds``).
    curve_every: every this many epochs (and after the last), record the
      cheap learning-curve bounds (see ``jmvae_jax.tasks.mnist.evaluation.curve_bounds``)
      in metrics.jsonl; 0 never.
    curve_k: importance samples of the learning-curve bounds.
    curve_examples: the first this many test images give the curve bounds.
    checkpoint_every: save the whole train state every this many epochs and
      after the last (1: every epoch). A killed run resumes from the last
      save and trains the epochs after it again, to the same result; raise it
      on an accelerator, where saving can take longer than an epoch.
    data_dir: where MNIST is looked for and cached.
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
  train_examples: int = 50_000
  seed: int = 0
  latent_dim: int = 64
  hidden_width: int = 512
  decoder_layers: int = 2
  matmul_dtype: str = 'float32'
  modalities: str = 'image,label'
  eval_k: int = 1000
  eval_prior_samples: int = 5000
  eval_batch_size: int = 100
  eval_chunk_size: int = 50
  curve_every: int = 0
  curve_k: int = 100
  curve_examples: int = 1000
  checkpoint_every: int = 1
  data_dir: str = '~/.cache/jmvae_jax'
  verify_data: bool = True

  def __post_init__(self):
    problems = settings.choice_problems(self, 'model', models.MODEL_NAMES)
    problems += settings.range_problems(
        self, finite_nonnegative=('alpha', 'grad_clip_norm'),
        at_least_one=('epochs', 'batch_size', 'latent_dim', 'hidden_width',
                      'decoder_layers', 'train_examples', 'eval_k',
                      'eval_prior_samples', 'eval_batch_size',
                      'eval_chunk_size', 'curve_k', 'curve_examples',
                      'checkpoint_every'),
        at_least_zero=('warmup_epochs', 'curve_every'),
        positive=('learning_rate', 'adam_eps'))
    problems += settings.choice_problems(self, 'matmul_dtype',
                                         ('float32', 'bfloat16'))
    if self.batch_size > self.train_examples:
      problems.append(f'--batch_size={self.batch_size} is larger than the '
                      f'training set (--train_examples={self.train_examples}): '
                      'an epoch would take no step; lower --batch_size')
    names = self.modalities.split(',')
    if (names[:2] != ['image', 'label'] or len(set(names)) != len(names)
        or not set(names) <= set(models.MNIST_MODALITIES)):
      problems.append(f"--modalities must be 'image,label' followed by any of "
                      f"{sorted(set(models.MNIST_MODALITIES) - {'image', 'label'})}"
                      f', got {self.modalities!r}')
    elif len(names) > 2 and not self.model.startswith('jmvae'):
      problems.append(f'--model={self.model} models image and label only; '
                      '--modalities takes more for JMVAE')
    settings.raise_problems(problems)

  def build_model(self, *, training: bool = True) -> models.JMVAE | models.VAE:
    """The model these settings describe: with config.matmul_dtype products
    for training, float32 ones for evaluation (same parameters)."""
    extra = {}
    if self.model.startswith('jmvae'):
      extra['modalities'] = tuple(models.MNIST_MODALITIES[name]
                                  for name in self.modalities.split(','))
    return models.make_model(
        self.model, **extra, latent_dim=self.latent_dim,
        encoder_hidden=(self.hidden_width,) * 2,
        decoder_hidden=(self.hidden_width,) * self.decoder_layers,
        matmul_dtype=self.matmul_dtype if training else 'float32')

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> Config:
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})
