"""The one configuration object of an MNIST run; every flag of the binary fills it."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from jmvae_jax import models
from jmvae_jax.errors import UserError

# The paper's MNIST schedule (Sec. 4.2; N_t from a reproduction that matched Table 1).
PAPER_EPOCHS = 500
PAPER_WARMUP_EPOCHS = 200

# Fields that fix the parameter shapes: a checkpoint only resumes under equal values.
ARCHITECTURE_FIELDS = ('model', 'latent_dim', 'hidden_width')


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings of one training-and-evaluation run.

  Attributes:
    model: 'jmvae_kl', 'jmvae_zero' or 'vae'.
    alpha: weight of the two unimodal KL terms of Eq. 4 (JMVAE-kl only).
    epochs: passes over the 50,000 training images.
    warmup_epochs: epochs over which the KL weight rises linearly to 1.
    anneal_alpha: also warm up the alpha terms (MultiVae's choice); by default only
      KL(q(z|x,w) || p(z)) is warmed up, as in the authors' code.
    batch_size: training examples per Adam step.
    learning_rate: Adam's step size.
    seed: root of every random stream of the run (init, shuffling, binarization,
      reparameterization).
    latent_dim: dimension of z.
    hidden_width: width of every hidden dense layer (two per tower and decoder).
    eval_k: importance samples per test example for the bounds.
    eval_prior_samples: prior samples for log p(w) in the multiple conditional bound.
    eval_batch_size: test examples per evaluation batch.
    eval_chunk_size: importance samples per scan step of the bounds: memory
      grows with it, and it never changes the result. 50 is the fast choice on
      a CPU; on a GPU, larger chunks fill the device better (see
      ``jmvae_jax.bounds``).
    data_dir: where MNIST is looked for and cached.
  """

  model: str = 'jmvae_kl'
  alpha: float = 0.1
  epochs: int = 10
  warmup_epochs: int = 5
  anneal_alpha: bool = False
  batch_size: int = 100
  learning_rate: float = 1e-3
  seed: int = 0
  latent_dim: int = 64
  hidden_width: int = 512
  eval_k: int = 1000
  eval_prior_samples: int = 5000
  eval_batch_size: int = 100
  eval_chunk_size: int = 50
  data_dir: str = '~/.cache/jmvae_jax'

  def __post_init__(self):
    problems = []
    if self.model not in models.MODEL_NAMES:
      problems.append(f'unknown --model={self.model!r}; choose one of '
                      f'{", ".join(models.MODEL_NAMES)}')
    if not (self.alpha >= 0 and math.isfinite(self.alpha)):
      problems.append(f'--alpha must be a finite number >= 0, got {self.alpha}')
    for name in ('epochs', 'batch_size', 'latent_dim', 'hidden_width', 'eval_k',
                 'eval_prior_samples', 'eval_batch_size', 'eval_chunk_size'):
      if getattr(self, name) < 1:
        problems.append(f'--{name} must be >= 1, got {getattr(self, name)}')
    if self.warmup_epochs < 0:
      problems.append(f'--warmup_epochs must be >= 0, got {self.warmup_epochs}')
    if not self.learning_rate > 0:
      problems.append(f'--learning_rate must be > 0, got {self.learning_rate}')
    if problems:
      raise UserError('; '.join(problems))

  def build_model(self) -> models.JMVAE | models.VAE:
    """The model these settings describe."""
    width = (self.hidden_width,) * 2
    return models.make_model(self.model, latent_dim=self.latent_dim,
                             encoder_hidden=width, decoder_hidden=width)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> Config:
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})
