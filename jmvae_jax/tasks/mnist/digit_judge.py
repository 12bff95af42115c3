"""The digit classifier that judges MNIST's generated images, and the ones shipped.

Everything on MNIST that reads generated digits (a run's coherence in
results.json, ``experiments.paper_report``'s label accuracy,
``experiments.classifiers --dataset=mnist``) uses one judge per pixel scale:
``jmvae_jax.metrics.digit_classifier``'s MLP trained on the paper's training
split, the first ``mnist.NUM_TRAIN`` (50,000) of MNIST's 60,000 training and
validation images, whatever number the judged model trained on. A run on all
60,000 (``--train_examples=60000``) is thus judged by the same classifier as
one on 50,000.

The judges of the classic pickle (``mnist.pkl.gz``) at both of its scales,
value / 256 (the default) and / 255 (``--paper``), ship in ``RELEASED_DIR``
(float32, 2.5 MB each; test accuracy 0.9886 and 0.9898): a first run reports
coherence without training one, and the committed label accuracies
(``results/mnist_paper/label_accuracy.md``) are re-computed with the very
classifier that wrote them, not one retrained on another machine (retraining
moved them by up to 0.006). MNIST from another source (tfds stores its images
in another order) gets its own judge, trained once and cached.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

from jmvae_jax.data import mnist
from jmvae_jax.metrics import digit_classifier

RELEASED_DIR = os.path.join(os.path.dirname(__file__), 'released_classifiers')


def training_split(data: mnist.LabelledImages) -> mnist.LabelledImages:
  """``data`` with the judge's training images: the first ``mnist.NUM_TRAIN``."""
  return dataclasses.replace(data,
                             train_images=data.train_images[:mnist.NUM_TRAIN],
                             train_labels=data.train_labels[:mnist.NUM_TRAIN])


def load_cached(data: mnist.LabelledImages, *, cache_dir: str | os.PathLike,
                config: digit_classifier.ClassifierConfig = (
                    digit_classifier.ClassifierConfig())
                ) -> digit_classifier.DigitClassifier | None:
  """The judge of ``data``'s images, from CACHE_DIR/classifiers or the
  released ones; None when neither has it."""
  return digit_classifier.load_cached(
      training_split(data), cache_dir=cache_dir, config=config,
      released_dir=RELEASED_DIR)


def load_or_train(data: mnist.LabelledImages, *, cache_dir: str | os.PathLike,
                  config: digit_classifier.ClassifierConfig = (
                      digit_classifier.ClassifierConfig()),
                  log: Callable[[str], None] = print
                  ) -> digit_classifier.DigitClassifier:
  """The judge of ``data``'s images: cached, released, or trained (about 2
  min on one core) and cached. ``config`` other than the default trains
  its own."""
  return digit_classifier.load_or_train(
      training_split(data), cache_dir=cache_dir, config=config, log=log,
      released_dir=RELEASED_DIR)


def train_command(data: mnist.LabelledImages) -> str:
  """The command that trains the judge of ``data``'s images."""
  scale = ('' if data.pixel_scale == mnist.PICKLE_SCALE
           else f' --pixel_scale={data.pixel_scale}')
  return f'python -m experiments.classifiers --dataset=mnist{scale}'
