"""Label-to-image accuracy: how often an image drawn from a label shows it.

For each digit c, N images are drawn as in the paper's Fig. 7: z ~ q(z|w=c),
x = the Bernoulli means of p(x|z) (JMVAE; CVAE and CMMA draw z ~ p(z|w) and
decode p(x|z,w), see ``generation.generate``). An independent digit
classifier (``jmvae_jax.metrics.digit_classifier``, trained on MNIST's training
images only) reads each image; the accuracy is the fraction read as c. It is
the conditional coherence of ``jmvae_jax.metrics.coherence`` for the label ->
image direction (computed by it), with every digit drawn equally often: about
0.1 for images unrelated to the label, the classifier's own test accuracy for
real test images of the right digit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from jmvae_jax import generation, models
from jmvae_jax.errors import UserError
from jmvae_jax.metrics import coherence

NUM_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class LabelAccuracy:
  """The label-to-image accuracy of one model.

  Attributes:
    overall: the fraction of all generated images read as their label.
    per_digit: that fraction for each label 0..9, [10].
    num_per_label: images drawn per label.
  """

  overall: float
  per_digit: tuple[float, ...]
  num_per_label: int

  def to_dict(self) -> dict[str, Any]:
    return {'overall': self.overall, 'per_digit': list(self.per_digit),
            'num_per_label': self.num_per_label}


def can_generate(model: Any) -> bool:
  """Whether ``model`` draws images from labels (it has q(z|w) or p(z|w))."""
  return generation.can_decode(model, ('label',), 'image')


def label_to_image_accuracy(model: Any, params: Any, classify: coherence.Classify, *,
                            key: jax.Array, num_per_label: int = 100,
                            batch_size: int = 100) -> LabelAccuracy:
  """Draws ``num_per_label`` images per digit and scores them with ``classify``.

  Args:
    model: a model with q(z|w) (JMVAE) or p(z|w) (CVAE, CMMA).
    params: its parameters.
    classify: images [M, 784] in [0, 1] -> digits [M] (e.g.
      ``DigitClassifier.predict``).
    key: typed PRNG key of the draws; digit c draws from fold_in(key, c).
    num_per_label: images per digit.
    batch_size: images per digit generated at once (memory).

  Returns:
    The overall and per-digit accuracy.

  Raises:
    UserError: the model cannot generate from labels, or a count is < 1.
  """
  if not can_generate(model):
    raise UserError(f'a {type(model).__name__} has no q(z|w) or p(z|w), so it '
                    'cannot draw images from labels; use a JMVAE, CVAE or '
                    'CMMA')
  if min(num_per_label, batch_size) < 1:
    raise UserError('num_per_label and batch_size must be >= 1, got '
                    f'{num_per_label} and {batch_size}')
  image, label = models.names_of(model)[:2]
  per_digit = []
  for digit in range(NUM_CLASSES):
    labels = np.full(num_per_label, digit, np.int32)
    judged = coherence.conditional(
        model, params, {label: np.eye(NUM_CLASSES, dtype=np.float32)[labels]},
        labels, {image: classify}, key=jax.random.fold_in(key, digit),
        batch_size=batch_size)
    per_digit.append(judged[f'coherence/{label}->{image}'])
  return LabelAccuracy(overall=float(np.mean(per_digit)),
                       per_digit=tuple(per_digit),
                       num_per_label=num_per_label)
