"""Face files -> attributes and attributes -> face files with a trained CelebA run.

The CelebA directions of ``python -m experiments.generate`` (Sec. 4.4.3):
``predict_attribute_files`` reads each face as in training and predicts its 40
attributes through q(z|x) and p(w|z) (``predict_test_faces`` the same for faces
of the run's test set); ``write_faces`` draws z ~ q(z|w) for an attribute
vector and writes the faces p(x|z) gives, their mean and a grid of them, as
PNGs.
Attributes the user does not set keep their average over the run's training
faces.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence

import jax
import numpy as np

from jmvae_jax import generation
from jmvae_jax.data.celeba import ATTRIBUTE_NAMES
from jmvae_jax.errors import UserError
from jmvae_jax.report import picture_files
from jmvae_jax.tasks.celeba import (config as celeba_config, face_files,
                                    models as celeba_models,
                                    train as celeba_train)
from jmvae_jax.tasks.celeba.restore import CelebARun, load_celeba_run
from jmvae_jax.training import settings

_BY_LOWER_NAME = {name.lower(): name for name in ATTRIBUTE_NAMES}


@dataclasses.dataclass(frozen=True)
class AttributePrediction:
  """The predicted attributes of one face image.

  Attributes:
    path: the file (or 'test face N' for a face of the test set).
    probabilities: P(attribute present) [40], in ``ATTRIBUTE_NAMES`` order.
  """

  path: str
  probabilities: np.ndarray

  def describe(self) -> str:
    """The file, then one line per attribute: its name, probability, yes/no."""
    lines = [f'{self.path}:']
    for name, p in zip(ATTRIBUTE_NAMES, self.probabilities):
      lines.append(f'  {name:<20} {p:.3f}  {"yes" if p > 0.5 else "no"}')
    return '\n'.join(lines)


def canonical_name(name: str) -> str:
  """CelebA's spelling of an attribute name given in any case.

  Raises:
    UserError: not one of the 40 names; the message suggests the closest.
  """
  canonical = _BY_LOWER_NAME.get(name.strip().lower())
  if canonical is None:
    close = difflib.get_close_matches(name.strip().lower(), _BY_LOWER_NAME,
                                      n=1, cutoff=0.6)
    hint = f'did you mean {_BY_LOWER_NAME[close[0]]}? ' if close else ''
    raise UserError(f'unknown attribute {name!r}; {hint}CelebA\'s 40 are '
                    f'{", ".join(ATTRIBUTE_NAMES)}')
  return canonical


def parse_attribute_values(specs: Sequence[str]) -> dict[str, float]:
  """['Smiling=1', 'male=-1'] -> {'Smiling': 1.0, 'Male': -1.0}.

  Values lie in [-1, 1]: 1 present, -1 absent, between for less certain.

  Raises:
    UserError: an item that is not NAME=VALUE, an unknown name, a name given
      twice, or a value that is not a number in [-1, 1].
  """
  values: dict[str, float] = {}
  for spec in specs:
    name, sep, text = spec.partition('=')
    if not sep:
      raise UserError(f'--attributes item {spec!r} is not NAME=VALUE, e.g. '
                      'Smiling=1,Male=-1')
    name = canonical_name(name)
    try:
      value = float(text)
    except ValueError:
      value = float('nan')
    if not -1 <= value <= 1:
      raise UserError(f'--attributes {name}={text.strip()!r}: give a number '
                      'in [-1, 1] (1 present, -1 absent)')
    if name in values:
      raise UserError(f'--attributes sets {name} twice')
    values[name] = value
  return values


def attribute_vector(values: Mapping[str, float],
                     base: np.ndarray) -> np.ndarray:
  """``base`` [40] with the named attributes set: float32 [40].

  Raises:
    UserError: an unknown name.
  """
  vector = np.array(base, np.float32, copy=True)
  for name, value in values.items():
    vector[ATTRIBUTE_NAMES.index(canonical_name(name))] = value
  return vector


def require_jmvae(run: CelebARun, what: str) -> None:
  """Raises UserError unless ``run`` has the encoders and decoders of JMVAE."""
  if not isinstance(run.model, celeba_models.ConvJMVAE):
    raise UserError(f'the run in {run.workdir} is a {run.config.model}, which '
                    f'cannot {what}; use a JMVAE run (--model=jmvae_gan, '
                    'jmvae_kl or jmvae_zero)')


def predict_attribute_files(workdir: str, paths: Sequence[str], *,
                            detect: bool = True) -> list[AttributePrediction]:
  """Predicts the attributes of each face image with WORKDIR's JMVAE.

  Each image is read as in ``face_files.read_face``; its probabilities are
  those of p(w|z) at the mean of q(z|x) (``generation.predict`` without a
  key).

  Args:
    workdir: a trained CelebA JMVAE run.
    paths: image files (PNG, JPG, any size).
    detect: find and crop the face as in training (else resize the image).

  Returns:
    One prediction per path, in order.

  Raises:
    UserError: a file cannot be read or holds no face (checked before the
      run is loaded), or the run cannot be loaded or predict attributes.
  """
  if not paths:
    raise UserError('give at least one image file')
  faces = np.stack([face_files.read_face(p, detect=detect) for p in paths])
  return _predict(load_celeba_run(workdir), paths, faces)


def _predict(run: CelebARun, names: Sequence[str],
             faces: np.ndarray) -> list[AttributePrediction]:
  """Predictions for uint8 faces [N, 64, 64, 3], named ``names``."""
  require_jmvae(run, 'predict attributes')
  probabilities = np.asarray(generation.predict(
      run.model, run.variables,
      {'image': celeba_train.standardize(faces, run.stats.pixels)},
      'attributes', key=None))
  return [AttributePrediction(n, p) for n, p in zip(names, probabilities)]


def predict_test_faces(workdir: str, indices: Sequence[int], *,
                       data_dir: str | None = None
                       ) -> list[AttributePrediction]:
  """Predicts the attributes of faces of the run's test set.

  As ``predict_attribute_files``, on the test faces the run was evaluated on
  (loaded, or read from the cache, as its config says); each prediction is
  named 'test face N'.

  Args:
    workdir: a trained CelebA JMVAE run.
    indices: positions in its test set.
    data_dir: where CelebA is looked for (default: the run's config.data_dir).

  Returns:
    One prediction per index, in order.

  Raises:
    UserError: no index given or one out of range, the data are missing, or
      the run cannot be loaded or predict attributes.
  """
  if not indices:
    raise UserError('give at least one test face index')
  run = load_celeba_run(workdir)
  config = run.config
  if data_dir:
    config = dataclasses.replace(config, data_dir=data_dir)
  test_images = celeba_config.load_data(config).test_images
  chosen = settings.checked_test_indices(indices, len(test_images), 'faces')
  faces = celeba_train.to_uint8(test_images[chosen])
  return _predict(run, [f'test face {i}' for i in indices], faces)


def write_faces(workdir: str, attributes: Mapping[str, float], *, num: int,
                out: str, seed: int = 0) -> list[str]:
  """Writes ``num`` faces drawn for the given attributes, and their mean.

  The attribute vector is the training faces' average with the given
  attributes set; each face is the mean of p(x|z) at one z ~ q(z|w), and
  ``mean.png`` is the average of the faces and ``grid.png`` all of them.

  Args:
    workdir: a trained CelebA JMVAE run.
    attributes: name -> value in [-1, 1] (``parse_attribute_values``).
    num: how many faces.
    out: the directory to write sample_000.png, ..., mean.png and grid.png
      into.
    seed: seed of the draws.

  Returns:
    The paths written: the samples, mean.png, grid.png.

  Raises:
    UserError: an unknown attribute, a bad count, an unusable run or output
      directory.
  """
  if num < 1:
    raise UserError(f'--num must be >= 1, got {num}')
  for name in attributes:
    canonical_name(name)
  run = load_celeba_run(workdir)
  require_jmvae(run, 'generate faces from attributes')
  w = attribute_vector(attributes, run.stats.attribute_mean)
  generated = generation.generate(
      run.model, run.variables, {'attributes': w[None]}, 'image',
      key=jax.random.key(seed), num_samples=num)
  faces = np.asarray(celeba_train.to_pixels(generated.samples[:, 0],
                                            run.stats.pixels))
  return picture_files.write_samples(out, faces)
