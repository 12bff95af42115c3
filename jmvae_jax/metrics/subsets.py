"""Likelihoods of every subset of a model's modalities, conditionals from them,
and how linearly each subset's latent separates the classes.

With M modalities the later multimodal-VAE papers report how well a model
does given any subset S of its inputs. Here every non-empty subset A gets the
importance-weighted bound of log p(X_A) with its own encoder q(z|X_A) as the
proposal (``bounds.iw_log_likelihood``; exact for any k when q is the true
posterior, a lower bound in expectation otherwise). The conditional of a
modality m outside S is then estimated as

  log p(x_m | X_S) ~ log p(x_m, X_S) - log p(X_S),

the difference of two such bounds (as the paper's Eq. 8 is for two
modalities; a difference of lower bounds is an estimate, not a bound), and is
averaged by the size of S: the curve papers plot against the number of
inputs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from jmvae_jax import bounds, generation, models

Subset = tuple[str, ...]


def name_of(subset: Subset) -> str:
  """('m0', 'm2') -> 'm0+m2', the subset's key in results."""
  return '+'.join(subset)


def nonempty_subsets(names: Sequence[str]) -> list[Subset]:
  """Every non-empty subset of ``names``, by size, each in ``names``' order."""
  return [subset for size in range(1, len(names) + 1)
          for subset in itertools.combinations(names, size)]


def log_likelihoods(model: models.MultimodalModel, params: models.Params,
                    observed: Mapping[str, jax.Array], *, key: jax.Array,
                    k: int, chunk_size: int | None = None
                    ) -> dict[str, jax.Array]:
  """{'log_p/<subset>': log p(X_A) [B]} for every non-empty subset A.

  Each bound draws k samples from q(z|X_A), from the key stream of that
  proposal (``bounds.proposal_stream``).
  """
  names = models.as_multimodal(model).modality_names
  return {f'log_p/{name_of(subset)}': bounds.iw_log_likelihood(
      model, params, observed, key=key, k=k, target=subset, proposal=subset,
      chunk_size=chunk_size) for subset in nonempty_subsets(names)}


def conditionals_by_size(log_p: Mapping[str, float],
                         names: Sequence[str]) -> dict[str, float]:
  """{'conditional_given_<s>': mean over |S| = s and m not in S of
  log p(x_m, X_S) - log p(X_S)} for s = 1 .. M - 1.

  Args:
    log_p: the means of ``log_likelihoods`` ('log_p/<subset>' keys).
    names: the modalities, in the model's order.
  """
  out = {}
  for size in range(1, len(names)):
    estimates = []
    for given in itertools.combinations(names, size):
      for target in (name for name in names if name not in given):
        joint = tuple(name for name in names if name in given + (target,))
        estimates.append(log_p[f'log_p/{name_of(joint)}']
                         - log_p[f'log_p/{name_of(given)}'])
    out[f'conditional_given_{size}'] = float(np.mean(estimates))
  return out


def separability_by_size(model: models.MultimodalModel, params: models.Params,
                         train: Mapping[str, np.ndarray],
                         train_labels: np.ndarray,
                         test: Mapping[str, np.ndarray],
                         test_labels: np.ndarray) -> dict[str, float]:
  """{'separability_given_<s>': test accuracy of a logistic regression on the
  standardized means of q(z|X_S), fitted on the training examples' means
  (standardized by their own mean and deviation), averaged over
  every S of size s} for s = 1 .. M: how linearly the latent separates the
  classes from each number of inputs."""
  names = models.as_multimodal(model).modality_names
  by_size: dict[int, list[float]] = {}
  for subset in nonempty_subsets(names):
    # Standardized first: the means of a poor encoder (JMVAE-zero's, from
    # zeros) can be far from unit scale, where L-BFGS stops short.
    fitted = make_pipeline(StandardScaler(),
                           LogisticRegression(max_iter=1000)).fit(
        _latent_means(model, params, train, subset), train_labels)
    by_size.setdefault(len(subset), []).append(float(fitted.score(
        _latent_means(model, params, test, subset), test_labels)))
  return {f'separability_given_{size}': float(np.mean(values))
          for size, values in sorted(by_size.items())}


def _latent_means(model: Any, params: Any, data: Mapping[str, np.ndarray],
                  subset: Subset, batch_size: int = 1000) -> np.ndarray:
  """The means of q(z|X_subset) of every example: [N, D]."""
  n = len(next(iter(data.values())))
  return np.concatenate([np.asarray(generation.latent_means(
      model, params, {name: data[name][start:start + batch_size]
                      for name in subset}))
                         for start in range(0, n, batch_size)])
