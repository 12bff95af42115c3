"""Both readings of the single conditional bound (paper Eq. 9) on one model.

* ours (``bounds.iw_conditional``, proposal 'single', the tables' number):
  log (1/k) sum_i p(x|z_i) p(w|z_i) p(z_i) / q(z_i|w) - log p(w),
  z_i ~ q(z|w), log p(w) from prior draws (Eq. 8's estimate);
* the authors' code (Tars; ``bounds.iw_conditional_tars``):
  log (1/k) sum_i p(x|z_i), z_i ~ q(z|w).

Both see the same draws z_i (the same key and stream), so their difference is
the formula's, not Monte Carlo noise. They agree when q(z|w) is the true
posterior p(z|w); how far apart they are on a trained model shows how far
q(z|w) is from it (see ``iw_conditional_tars``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jmvae_jax import bounds
from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError


def both_readings(model: Any, params: Any, images: np.ndarray,
                  labels: np.ndarray, *, key: jax.Array, k: int = 1000,
                  prior_samples: int = 5000, batch_size: int = 100,
                  chunk_size: int = 50) -> dict[str, Any]:
  """The mean of each reading of Eq. 9 over a test set.

  Args:
    model: a JMVAE (it needs q(z|w), p(x|z) and p(w|z)).
    params: its parameters.
    images: binary test images [N, 784] (``mnist.binarize_once``).
    labels: their digits, int [N].
    key: typed PRNG key; batch j uses fold_in(key, j) for both readings, and
      log p(w) the key itself.
    k: importance samples per image.
    prior_samples: prior draws for the per-class table of log p(w).
    batch_size: images per call.
    chunk_size: samples per scan step (memory only).

  Returns:
    'ours' and 'tars': the mean of each reading in nats; 'log_pw': the mean
    log p(w) subtracted by ours; 'num_images', 'k', 'prior_samples'.

  Raises:
    UserError: the model has no q(z|w) and p(w|z), or a count is < 1.
  """
  if not (hasattr(model, 'encode_w') and hasattr(model, 'log_pw')):
    raise UserError(f'a {type(model).__name__} has no q(z|w) and p(w|z); '
                    'both readings of Eq. 9 need a JMVAE')
  if min(k, prior_samples, batch_size, len(images)) < 1:
    raise UserError('k, prior_samples, batch_size and the number of images '
                    'must be >= 1')
  classes = jnp.eye(mnist.NUM_CLASSES, dtype=jnp.float32)
  log_pw_table = bounds.iw_prior_marginal(
      model, params, classes, key=key, k=prior_samples,
      chunk_size=chunk_size)
  sums = {'ours': 0.0, 'tars': 0.0, 'log_pw': 0.0}
  for j, start in enumerate(range(0, len(images), batch_size)):
    x = jnp.asarray(images[start:start + batch_size], jnp.float32)
    w = classes[np.asarray(labels[start:start + batch_size])]
    log_pw = w @ log_pw_table
    batch_key = jax.random.fold_in(key, j)
    ours = bounds.iw_conditional(
        model, params, x, w, key=batch_key, k=k, proposal='single',
        chunk_size=chunk_size, log_p_given=log_pw)
    tars = bounds.iw_conditional_tars(model, params, x, w, key=batch_key,
                                      k=k, chunk_size=chunk_size)
    sums['ours'] += float(jnp.sum(ours))
    sums['tars'] += float(jnp.sum(tars))
    sums['log_pw'] += float(jnp.sum(log_pw))
  n = len(images)
  return {**{name: total / n for name, total in sums.items()},
          'num_images': n, 'k': k, 'prior_samples': prior_samples}
