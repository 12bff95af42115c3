"""The attribute classifier that judges CelebA's coherence.

Coherence on CelebA (``jmvae_jax.metrics.coherence``) asks whether a face
drawn from attributes shows them (the paper's Fig. 4 as a number), whether the
attributes decoded from a face are its own, and whether a face and the
attributes decoded from the same z ~ p(z) agree. The faces are read by an
independent network: a ``jmvae_jax.metrics.digit_classifier.DigitNet`` with
one logistic output per attribute over 64 x 64 RGB faces in [0, 1] (two 5x5
stride-2 convolutions of 32 and 64 channels, a dense layer of 256), trained
on the training faces alone, cached by a digest of its settings and data
under CACHE_DIR/classifiers (``python -m experiments.classifiers
--dataset=celeba``). Each coherence is the fraction of the N x 40 (example,
attribute) entries read right; always predicting each attribute's more
common value scores about 0.8 on CelebA, so that, not 0.5, is the level to
beat.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import numpy as np

from jmvae_jax.data import celeba, mnist
from jmvae_jax.metrics import coherence, digit_classifier
from jmvae_jax.tasks.celeba import train as celeba_train
from jmvae_jax.tasks.celeba.models import IMAGE_SHAPE
from jmvae_jax.tasks.celeba.train import PixelStats

CLASSIFIER = digit_classifier.ClassifierConfig(
    epochs=5, hidden=(256,), conv_channels=(32, 64), image_shape=IMAGE_SHAPE)


def judged_data(data: celeba.CelebAData) -> mnist.LabelledImages:
  """Faces as float32 [N, 12288] in [0, 1], attributes as int32 [N, 40] in {0, 1}."""

  def flat(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32).reshape(len(images), -1)

  def present(attributes: np.ndarray) -> np.ndarray:
    return (np.asarray(attributes) > 0).astype(np.int32)

  return mnist.LabelledImages(
      flat(data.train_images), present(data.train_attributes),
      flat(data.test_images), present(data.test_attributes),
      source=data.source)


def load_or_train(data: celeba.CelebAData, *, cache_dir: str,
                  log: Callable[[str], None] = print
                  ) -> digit_classifier.DigitClassifier:
  """The attribute classifier of ``data``'s training faces: cached or trained."""
  return digit_classifier.load_or_train(
      judged_data(data), cache_dir=os.path.expanduser(cache_dir),
      config=CLASSIFIER, log=log)


def load_cached(data: celeba.CelebAData, *, cache_dir: str
                ) -> digit_classifier.DigitClassifier | None:
  """The classifier ``load_or_train`` would return, if cached; else None."""
  return digit_classifier.load_cached(
      judged_data(data), cache_dir=os.path.expanduser(cache_dir),
      config=CLASSIFIER)


def classifiers(judge: digit_classifier.DigitClassifier,
                stats: PixelStats) -> dict[str, coherence.Classify]:
  """{modality: Classify} of a CelebA model's readouts.

  The image's readout (standardized pixels [M, 64, 64, 3] or flat) is turned
  back into RGB in [0, 1] and read by ``judge``; the attributes' readout,
  P(present) [M, 40], is read as present above 1/2.
  """

  def faces(readouts: np.ndarray) -> np.ndarray:
    pixels = celeba_train.to_pixels(
        np.reshape(readouts, (-1,) + IMAGE_SHAPE), stats)
    return judge.predict(np.asarray(pixels))

  def attributes(probabilities: np.ndarray) -> np.ndarray:
    return (np.asarray(probabilities) > 0.5).astype(np.int32)

  return {'image': faces, 'attributes': attributes}


def evaluate(model: Any, variables: Any, faces: np.ndarray,
             attributes: np.ndarray, stats: PixelStats,
             judge: digit_classifier.DigitClassifier, *, key: jax.Array,
             batch_size: int = 500) -> dict[str, float]:
  """``coherence.evaluate`` of a CelebA model on test faces.

  Args:
    model: an evaluation-mode CelebA model (``gan.evaluation_model``).
    variables: its {'params', 'batch_stats'}.
    faces: uint8 test faces [N, 64, 64, 3].
    attributes: their attributes [N, 40] in {-1, 1} (or {0, 1}).
    stats: the training faces' pixel statistics.
    judge: the attribute classifier.
    key: typed PRNG key of the draws.
    batch_size: faces standardized at once on the host (memory only).

  Returns:
    'coherence/attributes->image', 'coherence/image->attributes' and
    'coherence_unconditional', as far as the model generates them.
  """
  standardized = np.concatenate([
      np.asarray(celeba_train.standardize(faces[i:i + batch_size], stats))
      for i in range(0, len(faces), batch_size)])
  signed = np.where(np.asarray(attributes) > 0, 1.0, -1.0).astype(np.float32)
  return coherence.evaluate(
      model, variables, {'image': standardized, 'attributes': signed},
      (signed > 0).astype(np.int32), classifiers(judge, stats), key=key,
      num_prior_samples=len(faces))
