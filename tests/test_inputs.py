"""Bad arguments at the public API fail at once with a message naming them."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jmvae_jax import bounds, objectives
from jmvae_jax.models import make_model

MODEL = make_model('jmvae_kl', latent_dim=4, encoder_hidden=(8,),
                   decoder_hidden=(8,))
PARAMS = MODEL.init(jax.random.key(0))
KEY = jax.random.key(1)


def _batch(n=6, seed=None):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.integers(0, 2, (n, 784)), jnp.float32)
  labels = rng.integers(0, 10, n)
  return x, jax.nn.one_hot(labels, 10, dtype=jnp.float32), labels


CALLS = {
    'iw_conditional': functools.partial(bounds.iw_conditional, MODEL, PARAMS,
                                        key=KEY, prior_samples=4),
    'iw_marginal': functools.partial(bounds.iw_marginal, MODEL, PARAMS, key=KEY),
    'iw_joint': functools.partial(bounds.iw_joint, MODEL, PARAMS, key=KEY),
    'evaluate_bounds': functools.partial(bounds.evaluate_bounds, MODEL, PARAMS,
                                         key=KEY, prior_samples=4),
}


def _cases():
  x, w, labels = _batch()
  return {
      'different batch sizes': ((x, w[:4]), {'k': 3},
                                'x and w must hold the same number of examples, '
                                'got 6 in x'),
      'x of the wrong width': ((x[:, :700], w), {'k': 3},
                               r'x must have shape \[batch, 784\] for this JMVAE,'
                               r' got \(6, 700\)'),
      'x as images': ((x.reshape(6, 28, 28), w), {'k': 3},
                      r'x must have shape \[batch, 784\]'),
      'integer labels': ((x, jnp.asarray(labels)), {'k': 3},
                         r'w must be a float array \[batch, 10\], got int'
                         r'.*jax.nn.one_hot\(labels, 10\)'),
      'w of the wrong width': ((x, w[:, :9]), {'k': 3},
                               r'w must have shape \[batch, 10\]'),
      'non-integer k': ((x, w), {'k': 2.5},
                        r'k \(the number of importance samples\) must be a '
                        r'positive integer, got 2.5 \(float\)'),
      'zero k': ((x, w), {'k': 0}, r'must be a positive integer, got 0'),
      'zero chunk_size': ((x, w), {'k': 3, 'chunk_size': 0},
                          'chunk_size must be a positive integer or None'),
  }


@pytest.mark.parametrize('function', sorted(CALLS))
@pytest.mark.parametrize('case', sorted(_cases()))
def test_bad_arguments_raise_a_value_error_naming_them(function, case):
  args, kwargs, message = _cases()[case]
  with pytest.raises(ValueError, match=message):
    CALLS[function](*args, **kwargs)


def test_objective_checks_its_batch():
  x, w, labels = _batch()
  with pytest.raises(ValueError, match='w must be a float array'):
    objectives.loss_terms(MODEL, PARAMS, x, jnp.asarray(labels), key=KEY)
  with pytest.raises(ValueError, match='same number of examples'):
    objectives.loss_terms(MODEL, PARAMS, x, w[:2], key=KEY)


def test_good_calls_still_compile_once():
  x, w, _ = _batch(seed=3)
  bounds.iw_conditional(MODEL, PARAMS, x, w, key=KEY, k=3, prior_samples=4)
  before = bounds.iw_conditional._cache_size()
  x2, w2, _ = _batch(seed=4)
  value = bounds.iw_conditional(MODEL, PARAMS, x2, w2, key=KEY, k=3,
                                prior_samples=4)
  assert bounds.iw_conditional._cache_size() == before
  assert value.shape == (6,) and np.all(np.isfinite(value))
