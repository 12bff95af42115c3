"""The paper's CelebA figures from a trained run, behind ``python -m experiments.figures``.

``write_celeba_figures(WORKDIR)`` writes into WORKDIR/figures/:

  fig4_attribute_faces.png  Fig. 4: faces generated from attribute vectors. One
                            row per vector (the training faces' average
                            attributes, then that average with one attribute
                            set present): its average face, the mean of p(x|z)
                            at the mean of q(z|w), and random faces, at draws
                            z ~ q(z|w).
  fig5_bidirectional.png    Fig. 5: faces -> attributes -> faces. One row per
                            input face, labelled with its most probable
                            attributes (q(z|x), then p(w|z)); beside it, the
                            face through q(z|x,w) with those predicted
                            attributes, then with one attribute changed.
  training_curves.png       every loss term of metrics.jsonl per epoch.

and the same curves, the test results and the figures as TensorBoard event
data (``jmvae_jax.report.summaries``), and report.md with links to the figures
(``jmvae_jax.report.run_report``). Figs. 4 and 5 need a JMVAE run (JMVAE-GAN,
JMVAE-kl or JMVAE-zero); for other models only the curves are drawn.

References:
  Suzuki, Nakayama & Matsuo, "Joint Multimodal Learning with Deep Generative
  Models", 2016 (arXiv 1611.01891): Sec. 4.4.2-4.4.3, Figs. 4 and 5.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import numpy as np

from jmvae_jax import generation
from jmvae_jax.data import celeba
from jmvae_jax.errors import UserError
from jmvae_jax.report import plotting, run_figures
from jmvae_jax.tasks.celeba import (config as celeba_config, face_files,
                                    models as celeba_models,
                                    train as celeba_train)
from jmvae_jax.tasks.celeba.bidirectional import (attribute_vector,
                                                  canonical_name)
from jmvae_jax.tasks.celeba.restore import CelebARun, load_celeba_run
from jmvae_jax.tasks.celeba.tables import CELEBA as CELEBA_TABLES

FIG4 = 'fig4_attribute_faces.png'
FIG5 = 'fig5_bidirectional.png'
# Rows of Fig. 4 after the average vector: attributes that show in a face.
FIG4_ATTRIBUTES = ('Bald', 'Bangs', 'Black_Hair', 'Blond_Hair', 'Eyeglasses',
                   'Male', 'Mustache', 'Smiling', 'Wearing_Hat', 'Young')
# Columns of Fig. 5 after the reconstruction: (attribute, value it is set to).
FIG5_CHANGES = (('Smiling', 1.0), ('Eyeglasses', 1.0), ('Blond_Hair', 1.0),
                ('Black_Hair', 1.0), ('Male', 1.0), ('Male', -1.0))
TOP_ATTRIBUTES = 4  # Predicted attributes listed beside each face of Fig. 5.
CELL = 66  # Pixels per 64 x 64 face in the figures.
FIG4_LABEL_WIDTH = 110
FIG5_LABEL_WIDTH = 130


def _pixels(run: CelebARun, standardized: jax.Array) -> np.ndarray:
  return np.asarray(celeba_train.to_pixels(standardized, run.stats.pixels))


def attribute_faces_figure(run: CelebARun, path: str, *,
                           attributes: Sequence[str], num_samples: int,
                           key: jax.Array) -> str:
  """Fig. 4: an average face and random faces for each attribute vector.

  Args:
    run: a CelebA JMVAE run.
    path: the PNG to write.
    attributes: one row each, after the row of the average vector.
    num_samples: random faces per row.
    key: typed key of the draws.
  """
  base = run.stats.attribute_mean
  names = [canonical_name(name) for name in attributes]
  vectors = np.stack([base] + [attribute_vector({name: 1.0}, base)
                               for name in names])
  generated = generation.generate(
      run.model, run.variables, {'attributes': vectors}, 'image', key=key,
      num_samples=num_samples)
  panels = [('average face', _pixels(run, generated.average)[:, None]),
            ('random faces, z ~ q(z|w)',
             np.swapaxes(_pixels(run, generated.samples), 0, 1))]
  return plotting.image_grids(
      panels, path, title=f'Fig. 4: faces generated from attributes '
      f'({run.name})', row_labels=['average'] + [f'+{n}' for n in names],
      label_width=FIG4_LABEL_WIDTH, cell=CELL)


def bidirectional_figure(run: CelebARun, faces: np.ndarray, path: str, *,
                         changes: Sequence[tuple[str, float]]) -> str:
  """Fig. 5: faces, their predicted attributes, and the faces with changed ones.

  The predicted attribute vector w^ is 1 where P(present) > 0.5 (through the
  mean of q(z|x) and p(w|z)) and -1 elsewhere, the values q(z|x,w) was trained
  on. Each changed face is the mean of p(x|z) at the mean of q(z|x, w^ with
  one attribute set).

  Args:
    run: a CelebA JMVAE run.
    faces: uint8 [R, 64, 64, 3], one row each.
    path: the PNG to write.
    changes: (attribute, value in [-1, 1]) per column after the
      reconstruction.
  """
  x = celeba_train.standardize(faces, run.stats.pixels)
  probabilities = np.asarray(generation.predict(
      run.model, run.variables, {'image': x}, 'attributes', key=None))
  predicted = np.where(probabilities > 0.5, 1.0, -1.0).astype(np.float32)
  changes = [(canonical_name(name), value) for name, value in changes]
  # [R, 1 + A, 40]: the prediction, then one change per column.
  vectors = np.stack([predicted] + [
      np.stack([attribute_vector({name: value}, w) for w in predicted])
      for name, value in changes], axis=1)
  repeated = np.broadcast_to(np.asarray(x)[:, None],
                             vectors.shape[:2] + x.shape[1:])
  decoded = _pixels(run, generation.reconstruct(
      run.model, run.variables, {'image': repeated, 'attributes': vectors},
      'image'))
  labels = []
  for row in probabilities:
    top = np.argsort(-row)[:TOP_ATTRIBUTES]
    labels.append('\n'.join(f'{celeba.ATTRIBUTE_NAMES[k]} {row[k]:.2f}'
                            for k in top))
  panels = [('input', faces[:, None] / 255.0),
            ('predicted w', decoded[:, :1])]
  panels += [(f'{name}={value:g}', decoded[:, 1 + i:2 + i])
             for i, (name, value) in enumerate(changes)]
  return plotting.image_grids(
      panels, path, title=f'Fig. 5: faces -> attributes -> faces ({run.name})',
      row_labels=labels, label_width=FIG5_LABEL_WIDTH, cell=CELL)


def _input_faces(run: CelebARun, face_paths: Sequence[str],
                 data: celeba.CelebAData | None, data_dir: str | None,
                 num_faces: int) -> np.ndarray:
  """Fig. 5's faces: from the files, else the first test faces; uint8."""
  if face_paths:
    return np.stack([face_files.read_face(p) for p in face_paths])
  if data is None:
    config = run.config
    if data_dir:
      config = dataclasses.replace(config, data_dir=data_dir)
    data = celeba_config.load_data(config)
  if not len(data.test_images):
    raise UserError('the data have no test faces for Fig. 5; give image '
                    'files with --faces')
  return celeba_train.to_uint8(data.test_images[:num_faces])


def write_celeba_figures(workdir: str, *, face_paths: Sequence[str] = (),
                         data: celeba.CelebAData | None = None,
                         data_dir: str | None = None,
                         attributes: Sequence[str] = FIG4_ATTRIBUTES,
                         changes: Sequence[tuple[str, float]] = FIG5_CHANGES,
                         num_samples: int = 6, num_faces: int = 6,
                         seed: int = 0,
                         log: Callable[[str], None] = print) -> dict[str, str]:
  """Writes the figures of the module docstring for WORKDIR's CelebA run.

  Args:
    workdir: the run whose figures/ directory and event file are written.
    face_paths: image files to use as Fig. 5's faces (read as in training);
      by default the run's first test faces.
    data: the faces to take them from; by default loaded as the run's config
      says (only when no ``face_paths`` are given).
    data_dir: where CelebA is looked for (default: the run's config.data_dir).
    attributes: Fig. 4's attributes, one row each.
    changes: Fig. 5's (attribute, value) changes, one column each.
    num_samples: random faces per row of Fig. 4.
    num_faces: test faces in Fig. 5.
    seed: seed of Fig. 4's draws.
    log: receives one line per figure written or skipped.

  Returns:
    The name -> path of each PNG written, 'events' -> the event file and
    'report' -> report.md (rewritten with links to the figures).

  Raises:
    UserError: the run or the data cannot be loaded, or a setting is bad.
  """
  if min(num_samples, num_faces) < 1:
    raise UserError('--num_samples and --num_faces must be >= 1')
  for name in list(attributes) + [name for name, _ in changes]:
    canonical_name(name)
  run = load_celeba_run(workdir, data=data)
  figures = run_figures.FigureLog(run.workdir, log)
  if isinstance(run.model, celeba_models.ConvJMVAE):
    figures.done(FIG4, attribute_faces_figure(
        run, figures.path(FIG4), attributes=attributes,
        num_samples=num_samples, key=jax.random.key(seed)))
    faces = _input_faces(run, face_paths, data, data_dir, num_faces)
    figures.done(FIG5, bidirectional_figure(run, faces, figures.path(FIG5),
                                            changes=changes))
  else:
    figures.skipped(f'{FIG4} and {FIG5}', f'a {run.config.model} has no '
                    'q(z|w) and p(w|z)')
  return figures.finish(run.name, CELEBA_TABLES)
