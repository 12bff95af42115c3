r"""Bi-directional generation with a trained JMVAE: images <-> labels or attributes.

MNIST runs (python -m experiments.mnist):
  python -m experiments.generate --workdir=runs/mnist --images=a.png,b.jpg
  python -m experiments.generate --workdir=runs/mnist --test_index=0,1,2
  python -m experiments.generate --workdir=runs/mnist --label=7 --num=16 --out=sevens

CelebA runs (python -m experiments.celeba):
  python -m experiments.generate --workdir=runs/celeba --images=me.jpg
  python -m experiments.generate --workdir=runs/celeba --test_index=0
  python -m experiments.generate --workdir=runs/celeba \
      --attributes=Smiling=1,Eyeglasses=1,Male=-1 --num=16 --out=faces

--images prints each file's prediction through q(z|x) and p(w|z): the digit,
its probability and every digit's (any size of PNG/JPG: read grey, resized to
28 x 28, scaled to [0, 1]; dark ink on light paper is told from MNIST's light
digits on dark by the image's border, or set with --invert / --noinvert), or
the probability of each of the 40 attributes (the face is found and cropped as
in training; --nodetect_faces for an image that is already a face crop).
--test_index does the same for images of the run's test set, no file needed.
--label or --attributes writes --num images drawn through q(z|w) and p(x|z)
(digits black on white, as in the figures), their mean, and grid.png with all
of them. Attributes take values in [-1, 1] (1 present, -1 absent); those not
given keep their average over the training faces.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from absl import flags

from experiments import cli
from jmvae_jax import tasks
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.celeba import bidirectional as celeba_bidirectional
from jmvae_jax.tasks.mnist import bidirectional

_WORKDIR = flags.DEFINE_string('workdir', None, 'The trained run.',
                               required=True)
_IMAGES = flags.DEFINE_list('images', [], 'Image files to classify.')
_TEST_INDEX = flags.DEFINE_list(
    'test_index', [], 'Positions of test-set images to classify (no file '
    'needed), e.g. 0,1,2.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'With --test_index: where the data set is looked for '
    '(default: the run\'s).')
_INVERT = flags.DEFINE_bool(
    'invert', None,
    'MNIST: the images show dark digits on a light background (--invert) or '
    'light on dark as MNIST (--noinvert); default: told by each border.')
_DETECT_FACES = flags.DEFINE_bool(
    'detect_faces', True, 'CelebA: find and crop the face in each image, as '
    'in training; --nodetect_faces resizes the whole image instead.')
_LABEL = flags.DEFINE_integer('label', None,
                              'MNIST: the digit to generate images of.')
_ATTRIBUTES = flags.DEFINE_list(
    'attributes', [], 'CelebA: NAME=VALUE,... attributes of the faces to '
    'generate, e.g. Smiling=1,Male=-1; --attributes= alone generates faces '
    'of the average attributes.')
_NUM = flags.DEFINE_integer('num', 16, 'How many images to generate.')
_OUT = flags.DEFINE_string(
    'out', None, 'Directory for the generated PNGs (default: '
    'WORKDIR/generated/LABEL, or WORKDIR/generated/faces).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the draws.')

_MNIST_ONLY = ('label', 'invert')
_CELEBA_ONLY = ('attributes', 'detect_faces')


def _refuse_flags(names: tuple[str, ...], kind: str) -> None:
  given = [f'--{name}' for name in names if flags.FLAGS[name].present]
  if given:
    raise UserError(f'{kind} runs take no {", ".join(given)}; see --helpfull')


def _test_indices() -> list[int]:
  try:
    return [int(index) for index in _TEST_INDEX.value]
  except ValueError:
    raise UserError('--test_index takes integers, e.g. --test_index=0,1,2; '
                    f'got {",".join(_TEST_INDEX.value)}') from None


def _print_predictions(from_files: Callable[[list[str]], Sequence[Any]],
                       from_test_set: Callable[[list[int]], Sequence[Any]]
                       ) -> None:
  """Prints what the run predicts for --images, then for --test_index."""
  indices = _test_indices()
  if _IMAGES.value:
    for prediction in from_files(_IMAGES.value):
      print(prediction.describe())
  if indices:
    for prediction in from_test_set(indices):
      print(prediction.describe())


def _mnist() -> None:
  _refuse_flags(_CELEBA_ONLY, 'MNIST')
  if not (_IMAGES.value or _TEST_INDEX.value) and _LABEL.value is None:
    raise UserError('give --images=FILE,... or --test_index=N,... to '
                    'classify, or --label=DIGIT to generate')
  _print_predictions(
      lambda paths: bidirectional.classify_files(
          _WORKDIR.value, paths, invert=_INVERT.value),
      lambda indices: bidirectional.classify_test_images(
          _WORKDIR.value, indices, data_dir=_DATA_DIR.value))
  if _LABEL.value is not None:
    out = _OUT.value or os.path.join(_WORKDIR.value, 'generated',
                                     str(_LABEL.value))
    paths = bidirectional.write_generated(_WORKDIR.value, _LABEL.value,
                                          num=_NUM.value, out=out,
                                          seed=_SEED.value)
    print(f'wrote {len(paths) - 2} images of {_LABEL.value}, their mean and '
          f'grid.png to {out}')


def _celeba() -> None:
  _refuse_flags(_MNIST_ONLY, 'CelebA')
  generate = flags.FLAGS['attributes'].present
  if not (_IMAGES.value or _TEST_INDEX.value) and not generate:
    raise UserError('give --images=FILE,... or --test_index=N,... to predict '
                    'attributes, or --attributes=NAME=VALUE,... to generate '
                    'faces')
  # Check every request before the (slow) first use of the run.
  attributes = celeba_bidirectional.parse_attribute_values(_ATTRIBUTES.value)
  _print_predictions(
      lambda paths: celeba_bidirectional.predict_attribute_files(
          _WORKDIR.value, paths, detect=_DETECT_FACES.value),
      lambda indices: celeba_bidirectional.predict_test_faces(
          _WORKDIR.value, indices, data_dir=_DATA_DIR.value))
  if generate:
    out = _OUT.value or os.path.join(_WORKDIR.value, 'generated', 'faces')
    paths = celeba_bidirectional.write_faces(
        _WORKDIR.value, attributes, num=_NUM.value, out=out, seed=_SEED.value)
    described = ', '.join(f'{n}={v:g}' for n, v in attributes.items())
    print(f'wrote {len(paths) - 2} faces ({described or "average attributes"})'
          f', their mean and grid.png to {out}')


def main():
  kind = tasks.run_kind(_WORKDIR.value)
  if kind == 'PolyMNIST':
    raise UserError(f'--workdir={_WORKDIR.value} holds a PolyMNIST run; draw '
                    'its cross-modal generations with python -m '
                    'experiments.figures --workdir=...')
  if kind == 'CelebA':
    _celeba()
  else:
    _mnist()


if __name__ == '__main__':
  cli.run(main)
