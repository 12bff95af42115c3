"""Test-set evaluation: per-example metrics, averaged over the whole test set."""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jmvae_jax import objectives
from jmvae_jax.config import Config

_ELBO_STREAM = 0


def _per_example_metrics(model: Any, params: Any, x: jax.Array, w: jax.Array,
                         key: jax.Array) -> dict[str, jax.Array]:
  """Metrics of one test batch, each [B] in nats: the ELBO and its terms."""
  terms = objectives.loss_terms(model, params, x, w,
                                key=jax.random.fold_in(key, _ELBO_STREAM))
  return dict(terms, elbo=-objectives.negative_elbo(terms))


def format_duration(seconds: float) -> str:
  """12.3 -> '12s', 95 -> '1m35s', 4000 -> '1h06m'."""
  seconds = int(round(seconds))
  if seconds < 60:
    return f'{seconds}s'
  if seconds < 3600:
    return f'{seconds // 60}m{seconds % 60:02d}s'
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'


def evaluate(model: Any, params: Any, images: np.ndarray, labels: np.ndarray, *,
             config: Config, key: jax.Array, num_classes: int = 10,
             log: Callable[[str], None] = print) -> dict[str, float]:
  """Mean test metrics in nats over every example of a binarized test set.

  Args:
    model: a trained model.
    params: its parameters.
    images: binary test images [N, 784] (binarized once, see
      ``jmvae_jax.data.mnist.binarize_once``).
    labels: int labels [N].
    config: supplies the evaluation batch size.
    key: typed key; batch i uses fold_in(key, i), so results do not depend on
      how many batches ran before.
    num_classes: width of the one-hot label modality.
    log: receives one progress line per ~10% of the batches, with an ETA.

  Returns:
    {'test_elbo': ..., 'test_recon_x': ..., ...}: means over all N examples.
  """
  batch = config.eval_batch_size
  num = images.shape[0]
  num_batches = -(-num // batch)
  padded = num_batches * batch
  images = np.concatenate([images, np.zeros((padded - num,) + images.shape[1:],
                                            images.dtype)])
  labels = np.concatenate([labels, np.zeros(padded - num, labels.dtype)])
  metrics_fn = jax.jit(functools.partial(_per_example_metrics, model))

  sums: dict[str, float] = {}
  start = time.perf_counter()
  report_every = max(1, num_batches // 10)
  for i in range(num_batches):
    x = jnp.asarray(images[i * batch:(i + 1) * batch])
    w = jax.nn.one_hot(labels[i * batch:(i + 1) * batch], num_classes,
                       dtype=x.dtype)
    valid = min(batch, num - i * batch)
    per_example = metrics_fn(params, x, w, jax.random.fold_in(key, i))
    for name, values in per_example.items():
      sums[name] = sums.get(name, 0.0) + float(jnp.sum(values[:valid]))
    if (i + 1) % report_every == 0 or i + 1 == num_batches:
      elapsed = time.perf_counter() - start
      eta = elapsed / (i + 1) * (num_batches - i - 1)
      log(f'evaluating: {min(num, (i + 1) * batch)}/{num} test examples, '
          f'{elapsed:.0f}s elapsed, ETA {format_duration(eta)}')
  return {f'test_{name}': total / num for name, total in sorted(sums.items())}
