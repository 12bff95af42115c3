"""Coherence: whether what a model generates shows the class its inputs share.

Later multimodal-VAE papers (Shi et al. 2019; Sutter et al. 2021) report,
beside likelihoods, how often generated data carry the right label, judged by
classifiers trained on real data alone (``jmvae_jax.metrics.digit_classifier``):

* conditional coherence of a subset S and a modality m outside it: draw
  z ~ q(z|X_S) for each test example (p(z|w) for a model of x given w),
  decode x_m (its ``Modality.readout``), classify it; the fraction classified
  as the example's label. Averaged over every S of one size, it gives the
  curve against the number of inputs.
* unconditional coherence: z ~ p(z), every modality decoded at the same z;
  the fraction of draws on which all the classifiers agree.

About 1 / num_classes for outputs unrelated to the inputs (and 1 /
num_classes^(M-1) for unconditional agreement by chance), the classifiers'
own accuracy for a perfect model. With several binary labels per example
(CelebA's attributes) each is the fraction of (example, label) entries read
right. ``evaluate`` gives every coherence a model allows; the tasks call it
(MNIST: image and label, the label read as its most probable class; CelebA:
``jmvae_jax.tasks.celeba.attribute_classifier``; PolyMNIST: five digit
classifiers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jmvae_jax import generation, models
from jmvae_jax.metrics import subsets

# A modality's readouts [N, dim] -> predicted classes [N] (or [N, A] labels).
Classify = Callable[[np.ndarray], np.ndarray]


def missing_judges_line(judges: str, command: str) -> str:
  """The log line of a run that cannot report coherence: which ``judges``
  are not cached, and the ``command`` (python -m ...) that trains them."""
  return (f'coherence: no cached {judges}; run {command} once, then this '
          'command again, to add it')


def conditional(model: Any, params: Any, data: Mapping[str, np.ndarray],
                labels: np.ndarray, classifiers: Mapping[str, Classify], *,
                key: jax.Array, batch_size: int = 500) -> dict[str, float]:
  """Conditional coherence of every proper subset S and every m outside it.

  Judges each (S, m) the model can generate (``generation.can_decode``): any
  pair for a keyed model with decoders, w -> x for a model of x given w
  (CVAE, CMMA, which draw z from p(z|w)), none for a VAE.

  Args:
    model: a keyed model with decoders, or a model of x given w.
    params: its parameters.
    data: {modality name: [N, dim]} as the model takes them.
    labels: the class of each example [N], or several per example [N, A]
      (CelebA's attributes: a classifier then returns [N, A] and the
      coherence is the fraction of the N * A entries read right).
    classifiers: {modality name: Classify} for the targets to judge.
    key: typed PRNG key; subset i draws from fold_in(key, i), batch j from
      fold_in of that, and every target of a subset decodes the same z.
    batch_size: examples encoded at once (memory only).

  Returns:
    {'coherence/<S>-><m>': fraction right} and {'coherence_given_<s>': their
    mean over |S| = s} for each size s that has a pair.
  """
  names = models.names_of(model)
  labels = np.asarray(labels)
  out: dict[str, float] = {}
  by_size: dict[int, list[float]] = {}
  for i, given in enumerate(subsets.nonempty_subsets(names)):
    targets = tuple(name for name in names
                    if name not in given and name in classifiers
                    and generation.can_decode(model, given, name))
    if not targets:
      continue
    right = dict.fromkeys(targets, 0)
    for j, start in enumerate(range(0, len(labels), batch_size)):
      rows = slice(start, start + batch_size)
      decoded = generation.generate_targets(
          model, params, {name: data[name][rows] for name in given}, targets,
          key=jax.random.fold_in(jax.random.fold_in(key, i), j))
      for target in targets:
        right[target] += int(np.sum(
            classifiers[target](np.asarray(decoded[target])) == labels[rows]))
    for target in targets:
      value = right[target] / labels.size
      out[f'coherence/{subsets.name_of(given)}->{target}'] = value
      by_size.setdefault(len(given), []).append(value)
  for size, values in sorted(by_size.items()):
    out[f'coherence_given_{size}'] = float(np.mean(values))
  return out


def unconditional(model: Any, params: Any,
                  classifiers: Mapping[str, Classify], *, key: jax.Array,
                  num_samples: int, batch_size: int = 500) -> float:
  """The fraction of draws z ~ p(z) on which every classifier reads the same class.

  With several labels per example (classifiers returning [S, A]), the
  fraction of the S * A entries on which they all agree.
  """
  targets: Sequence[str] = tuple(classifiers)
  agree, entries = 0, 0
  for j, start in enumerate(range(0, num_samples, batch_size)):
    count = min(batch_size, num_samples - start)
    decoded = generation.generate_from_prior(
        model, params, targets, key=jax.random.fold_in(key, j),
        num_samples=count)
    read = np.stack([classifiers[t](np.asarray(decoded[t])) for t in targets])
    same = np.all(read == read[:1], axis=0)
    agree += int(np.sum(same))
    entries += same.size
  return agree / entries


def evaluate(model: Any, params: Any, data: Mapping[str, np.ndarray],
             labels: np.ndarray, classifiers: Mapping[str, Classify], *,
             key: jax.Array, num_prior_samples: int) -> dict[str, float]:
  """Every coherence the model allows, as a task's results.json holds it.

  ``conditional``'s pairs, and 'coherence_unconditional' when the model
  draws from p(z) and decodes two or more judged modalities (not a model of
  x given w, not a VAE). Arguments as ``conditional``'s; the unconditional
  coherence is over ``num_prior_samples`` draws.
  """
  conditional_key, prior_key = jax.random.split(key)
  out = conditional(model, params, data, labels, classifiers,
                    key=conditional_key)
  from_prior = {name: classify for name, classify in classifiers.items()
                if generation.can_decode(model, (name,), name)}
  if len(from_prior) >= 2:
    out['coherence_unconditional'] = unconditional(
        model, params, from_prior, key=prior_key,
        num_samples=num_prior_samples)
  return out
