"""Coherence on keyed stub models whose outputs are known: 1 when the decoder
shows the inputs' class, about 1/10 when it shows noise."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jmvae_jax import distributions, models
from jmvae_jax.distributions import DiagGaussian
from jmvae_jax.metrics import coherence

NAMES = ('a', 'b', 'c')
MODALITIES = tuple(models.Modality(name, 10, distributions.categorical_log_prob)
                   for name in NAMES)


@dataclasses.dataclass(frozen=True)
class Echo:
  """z is drawn around the mean of the observed one-hot digits, with a tiny
  variance (or, ``noisy``, a huge one that drowns the digit); every decoder
  outputs z itself, or, with ``scramble``, z through a random map of its own."""

  noisy: bool = False
  scramble: bool = False
  modalities: tuple = MODALITIES
  latent_dim: int = 10

  @property
  def modality_names(self):
    return NAMES

  def encode_subset(self, params, observed):
    mean = sum(observed.values()) / len(observed)
    return DiagGaussian(mean, jnp.full(mean.shape, 10.0 if self.noisy else -20.0))

  def decode(self, params, name, z):
    return z @ params[name] if self.scramble else z

  def log_likelihood(self, params, name, value, z):
    return distributions.categorical_log_prob(value,
                                              self.decode(params, name, z))


def _data(n, seed):
  labels = np.random.default_rng(seed).integers(0, 10, n)
  one_hot = np.eye(10, dtype=np.float32)[labels]
  return {name: one_hot for name in NAMES}, labels


def _argmax(readouts):
  return np.argmax(readouts, axis=-1)


CLASSIFIERS = {name: _argmax for name in NAMES}


def test_a_decoder_of_the_inputs_digit_is_fully_coherent():
  data, labels = _data(300, seed=1)
  result = coherence.conditional(Echo(), {}, data, labels, CLASSIFIERS,
                                 key=jax.random.key(0), batch_size=128)
  # 3 singletons x 2 targets + 3 pairs x 1 target.
  pairs = [key for key in result if key.startswith('coherence/')]
  assert len(pairs) == 9 and 'coherence/a+b->c' in result
  assert all(result[key] == 1.0 for key in pairs)
  assert result['coherence_given_1'] == result['coherence_given_2'] == 1.0
  assert coherence.unconditional(Echo(), {}, CLASSIFIERS,
                                 key=jax.random.key(1), num_samples=200) == 1.0


def test_a_decoder_of_noise_is_coherent_one_time_in_ten():
  rng = np.random.default_rng()
  data, labels = _data(2000, seed=int(rng.integers(1 << 20)))
  result = coherence.conditional(
      Echo(noisy=True), {}, data, labels, CLASSIFIERS,
      key=jax.random.key(int(rng.integers(1 << 20))))
  # 6 (given 1) or 3 (given 2) fractions of 2,000: SE about 0.003 each.
  for size in (1, 2):
    assert result[f'coherence_given_{size}'] == pytest.approx(0.1, abs=0.02)
  params = {name: jnp.asarray(rng.normal(size=(10, 10)), jnp.float32)
            for name in NAMES}
  agree = coherence.unconditional(Echo(scramble=True), params, CLASSIFIERS,
                                  key=jax.random.key(2), num_samples=2000)
  assert agree < 0.05  # By chance about 1/100 (or more for a skewed map).


def test_only_targets_with_a_classifier_are_judged():
  data, labels = _data(50, seed=3)
  result = coherence.conditional(Echo(), {}, data, labels,
                                 {'c': _argmax}, key=jax.random.key(0))
  assert sorted(result) == ['coherence/a+b->c', 'coherence/a->c',
                            'coherence/b->c', 'coherence_given_1',
                            'coherence_given_2']
