"""CelebA Figs. 4 and 5, faces <-> attributes, and the two binaries, on the fixture.

A tiny JMVAE-kl run (one epoch on the fixture's nine training faces) stands in
for a trained one: the checks are of shapes, wiring, preprocessing and
messages, and the closed forms the functions implement.
"""

import dataclasses
import os
import shutil

import cv2
import jax
import numpy as np
import pytest
from scipy import stats
from tensorboard.backend.event_processing import event_accumulator

from jmvae_jax import generation
from jmvae_jax.data import celeba
from jmvae_jax.errors import UserError
from jmvae_jax.report import picture_files, plotting, run_figures
from jmvae_jax.tasks.celeba import (bidirectional as celeba_bidirectional,
                                    experiment as celeba_experiment, face_files,
                                    figures as celeba_figures,
                                    models as celeba_models,
                                    stats as celeba_stats,
                                    train as celeba_train)
from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.tasks.celeba.restore import load_celeba_run
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.mnist.restore import load_run
from tests.binaries import assert_one_line_error, run_module
from tests.celeba_fixture import TINY_RUN, fixture_faces
from tests.fake_runs import generate_lines

# Fixture files 000001.jpg, 000003.jpg, ... 000019.jpg are the ten faces.
FACE_FILES = [f'{2 * i + 1:06d}.jpg' for i in range(10)]
SMALL_FACE_FILE = '000002.jpg'  # A face under 0.4 of the height.
NON_FACE_FILE = '000006.jpg'  # Noise (celeba_fixture.non_face_images()[0]).
TRUNCATED_FILE = '000004.jpg'  # Half a JPEG.
# Grey levels (0..255) inside each face of a figure vary more than this unless
# the face is flat (tested). The tiny run measured 37.6 to 49.4.
STD_FLOOR = 5.0


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
  """(workdir of a one-epoch JMVAE-kl run, its faces, the fixture images)."""
  root = tmp_path_factory.mktemp('celeba')
  faces = fixture_faces(root / 'data')
  workdir = root / 'jmvae_kl'
  celeba_experiment.train_and_evaluate(
      CelebAConfig(model='jmvae_kl', **TINY_RUN), workdir, data=faces,
      log=lambda _: None)
  return workdir, faces, root / 'data' / celeba.IMAGE_DIR


def _rgb(path):
  image = cv2.imread(str(path), cv2.IMREAD_COLOR)
  assert image is not None, path
  return image[..., ::-1]


def _size(path):
  height, width = _rgb(path).shape[:2]
  return width, height


def _face_stds(path, panels, cell, label_width):
  """The std of the grey levels of each face of an ``image_grids`` PNG.

  panels: (rows, columns) per panel; the layout is the one documented in
  ``plotting.image_grids``. Each face is read 6 pixels in from its cell, clear
  of the gaps between faces.
  """
  grey = cv2.cvtColor(_rgb(path), cv2.COLOR_RGB2GRAY).astype(np.float64)
  height = max(cell * rows + 75 for rows, _ in panels)
  stds, left = [], 0
  for i, (rows, cols) in enumerate(panels):
    margin = label_width if i == 0 else 25
    top = height - 5 - cell * rows
    for r in range(rows):
      for c in range(cols):
        y, x = top + r * cell, left + margin + c * cell
        stds.append(grey[y + 6:y + cell - 6, x + 6:x + cell - 6].std())
    left += margin + cell * cols
  return stds


# Closed forms and preprocessing, without a trained run.


def test_attribute_probabilities_restrict_p_w_given_z_to_plus_minus_one():
  means = np.random.default_rng(0).uniform(-3, 3, size=(5, 40))
  present = stats.norm.pdf(1.0, loc=means, scale=1.0)
  absent = stats.norm.pdf(-1.0, loc=means, scale=1.0)
  np.testing.assert_allclose(
      celeba_models.attribute_probabilities(means.astype(np.float32)),
      present / (present + absent), rtol=1e-5)


def test_to_pixels_inverts_the_training_standardization():
  rng = np.random.default_rng(1)
  faces = rng.integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
  pixel_stats = celeba_train.pixel_stats(rng.uniform(size=(7, 64, 64, 3)))
  standardized = celeba_train.standardize(faces, pixel_stats)
  np.testing.assert_allclose(
      celeba_train.to_pixels(standardized, pixel_stats), faces / 255.0,
      atol=1e-5)
  assert np.max(celeba_train.to_pixels(standardized + 1e3,
                                       pixel_stats)) == 1.0


def test_attribute_values_are_parsed_and_checked():
  assert celeba_bidirectional.parse_attribute_values(
      ['smiling=1', ' Male = -0.5', 'EYEGLASSES=0']) == {
          'Smiling': 1.0, 'Male': -0.5, 'Eyeglasses': 0.0}
  base = np.linspace(-1, 1, 40, dtype=np.float32)
  vector = celeba_bidirectional.attribute_vector({'Male': 1.0, 'bald': -1},
                                                 base)
  expected = base.copy()
  expected[celeba.ATTRIBUTE_NAMES.index('Male')] = 1.0
  expected[celeba.ATTRIBUTE_NAMES.index('Bald')] = -1.0
  np.testing.assert_array_equal(vector, expected)
  for specs, message in [
      (['Smilling=1'], "unknown attribute 'Smilling'; did you mean Smiling?"),
      (['Smiling'], "item 'Smiling' is not NAME=VALUE"),
      (['Smiling=yes'], "Smiling='yes': give a number in"),
      (['Smiling=1.5'], "Smiling='1.5': give a number in"),
      (['Smiling=1', 'smiling=-1'], 'sets Smiling twice')]:
    with pytest.raises(UserError, match=message):
      celeba_bidirectional.parse_attribute_values(specs)


def test_face_files_are_preprocessed_as_the_training_faces(tiny):
  _, faces, image_dir = tiny
  loaded = celeba_train.to_uint8(np.concatenate([faces.train_images,
                                                 faces.test_images]))
  for name in FACE_FILES:
    face = face_files.read_face(image_dir / name)
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8
    # Each file gives exactly one of the loader's faces, bit for bit.
    assert sum(np.array_equal(face, f) for f in loaded) == 1, name
  for name in (SMALL_FACE_FILE, NON_FACE_FILE):
    with pytest.raises(UserError, match='no face found that fills more than'):
      face_files.read_face(image_dir / name)
  with pytest.raises(UserError, match='cannot be read as an image'):
    face_files.read_face(image_dir / TRUNCATED_FILE)


def test_face_files_round_trip_without_detection(tmp_path):
  rng = np.random.default_rng(2)
  face = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
  path = picture_files.write_image(tmp_path / 'face.png', face / 255.0)
  np.testing.assert_array_equal(face_files.read_face(path, detect=False), face)
  wide = np.concatenate([np.zeros((64, 32, 3)), face / 255.0,
                         np.ones((64, 32, 3))], axis=1)  # [64, 128, 3]
  picture_files.write_image(tmp_path / 'wide.png', wide)
  np.testing.assert_array_equal(
      face_files.read_face(tmp_path / 'wide.png', detect=False), face)
  (tmp_path / 'text.jpg').write_text('not an image')
  with pytest.raises(UserError, match='cannot be read as an image'):
    face_files.read_face(tmp_path / 'text.jpg')
  with pytest.raises(UserError, match='no such file'):
    face_files.read_face(tmp_path / 'missing.jpg')


# A trained run.


def test_the_run_saves_and_restores_its_data_statistics(tiny, tmp_path):
  workdir, faces, _ = tiny
  saved = celeba_stats.load(str(workdir))
  expected = celeba_train.pixel_stats(faces.train_images)
  np.testing.assert_allclose(saved.pixels.mean, expected.mean, rtol=1e-6)
  np.testing.assert_allclose(saved.pixels.std, expected.std, rtol=1e-6)
  np.testing.assert_allclose(saved.attribute_mean,
                             faces.train_attributes.mean(axis=0), rtol=1e-6)
  # A run without the file (trained before it existed) computes them.
  copy = tmp_path / 'old_run'
  shutil.copytree(workdir, copy)
  os.remove(copy / celeba_stats.FILE_NAME)
  run = load_celeba_run(copy, data=faces)
  np.testing.assert_allclose(run.stats.pixels.mean, expected.mean, rtol=1e-6)
  assert run.epoch == 1 and isinstance(run.model, celeba_models.ConvJMVAE)


def test_runs_of_the_other_data_set_are_refused(tiny, tmp_path):
  workdir, _, _ = tiny
  with pytest.raises(UserError, match='holds a run on CelebA, not on MNIST'):
    load_run(workdir)
  (tmp_path / 'config.json').write_text(Config().to_json())
  with pytest.raises(UserError, match='holds a run on MNIST, not on CelebA'):
    load_celeba_run(tmp_path)


def test_library_functions_compose_the_model(tiny):
  workdir, _, image_dir = tiny
  run = load_celeba_run(workdir)
  model, variables = run.model, run.variables
  x = celeba_train.standardize(
      np.stack([face_files.read_face(image_dir / n) for n in FACE_FILES[:3]]),
      run.stats.pixels)
  w = np.sign(np.random.default_rng(3).normal(size=(3, 40))).astype(np.float32)
  np.testing.assert_allclose(
      generation.predict(model, variables, {'image': x}, 'attributes',
                         key=None),
      celeba_models.attribute_probabilities(
          model.decode_w(variables, model.encode_x(variables, x).mean)),
      rtol=1e-5)
  np.testing.assert_allclose(
      generation.reconstruct(model, variables, {'image': x, 'attributes': w},
                             'image'),
      model.decode_x(variables, model.encode(variables, x, w).mean),
      rtol=1e-4, atol=1e-5)
  generated = generation.generate(model, variables, {'attributes': w}, 'image',
                                  key=jax.random.key(0), num_samples=2)
  assert generated.samples.shape == (2, 3, 64, 64, 3)
  np.testing.assert_allclose(
      generated.average,
      model.decode_x(variables, model.encode_w(variables, w).mean),
      rtol=1e-4, atol=1e-5)
  assert not np.allclose(generated.samples[0], generated.samples[1])

  predictions = celeba_bidirectional.predict_attribute_files(
      str(workdir), [str(image_dir / n) for n in FACE_FILES[:3]])
  np.testing.assert_allclose(
      np.stack([p.probabilities for p in predictions]),
      generation.predict(model, variables, {'image': x}, 'attributes',
                         key=None), rtol=1e-5)
  with pytest.raises(UserError, match='a vae, which cannot predict'):
    celeba_bidirectional.require_jmvae(
        dataclasses.replace(run, model=celeba_models.ConvVAE(),
                            config=CelebAConfig(model='vae', **TINY_RUN)),
        'predict attributes')


def test_figures_have_their_sizes_and_are_not_blank(tiny):
  workdir, faces, image_dir = tiny
  messages = []
  paths = celeba_figures.write_celeba_figures(
      str(workdir), face_paths=[str(image_dir / n) for n in FACE_FILES[:3]],
      data=faces, num_samples=3, log=messages.append)
  assert set(paths) == {celeba_figures.FIG4, celeba_figures.FIG5,
                        run_figures.CURVES, 'events', 'report'}
  report = open(paths['report']).read()
  assert f'- [{celeba_figures.FIG4}](figures/{celeba_figures.FIG4})' in report
  assert len(messages) == len(paths)
  cell = celeba_figures.CELL
  rows4 = 1 + len(celeba_figures.FIG4_ATTRIBUTES)  # The average, then each.
  panels4 = [(rows4, 1), (rows4, 3)]  # Average faces, random faces.
  changes = len(celeba_figures.FIG5_CHANGES)
  panels5 = [(3, 1)] * (2 + changes)  # Input, predicted w, each change.
  expected = {
      celeba_figures.FIG4: (
          (celeba_figures.FIG4_LABEL_WIDTH + cell + 25 + 3 * cell,
           cell * rows4 + 75), panels4, celeba_figures.FIG4_LABEL_WIDTH),
      celeba_figures.FIG5: (
          (celeba_figures.FIG5_LABEL_WIDTH + cell + (1 + changes) * (25 + cell),
           3 * cell + 75), panels5, celeba_figures.FIG5_LABEL_WIDTH),
  }
  for name, (size, panels, label_width) in expected.items():
    assert os.path.dirname(paths[name]) == str(workdir / 'figures')
    assert _size(paths[name]) == size, name
    assert min(_face_stds(paths[name], panels, cell, label_width)) > STD_FLOOR
  # loss, recon/image, recon/attributes, kl_prior, kl_unimodal/image,
  # kl_unimodal/attributes, kl_weight.
  assert _size(paths[run_figures.CURVES]) == (1050, 875)

  accumulator = event_accumulator.EventAccumulator(str(workdir))
  accumulator.Reload()
  assert 'train/recon/image' in accumulator.Tags()[event_accumulator.SCALARS]
  assert sorted(accumulator.Tags()[event_accumulator.IMAGES]) == [
      'figures/fig4_attribute_faces', 'figures/fig5_bidirectional',
      'figures/training_curves']

  # Without face files, Fig. 5 shows the test faces (the fixture has one).
  paths = celeba_figures.write_celeba_figures(
      str(workdir), data=faces, num_samples=3, log=lambda _: None)
  assert _size(paths[celeba_figures.FIG5])[1] == cell + 75


def test_flat_faces_are_caught_by_the_floor(tmp_path):
  flat = np.full((2, 3, 64, 64, 3), 0.4)
  path = plotting.image_grids([('a', flat), ('b', flat)], tmp_path / 'f.png',
                              title='t', row_labels=['x', 'y'],
                              label_width=110, cell=66)
  assert max(_face_stds(path, [(2, 3), (2, 3)], 66, 110)) == 0


def test_generate_binary_predicts_attributes_and_writes_faces(tiny, tmp_path):
  workdir, _, image_dir = tiny
  files = [str(image_dir / n) for n in FACE_FILES[:2]]
  out = tmp_path / 'faces'
  result = run_module('experiments.generate', f'--workdir={workdir}',
                f'--images={",".join(files)}',
                '--attributes=smiling=1,Male=-1', '--num=3', f'--out={out}')
  assert result.returncode == 0, result.stderr
  lines = result.stdout.strip().splitlines()
  for i, path in enumerate(files):
    block = lines[41 * i:41 * (i + 1)]
    assert block[0] == f'{path}:'
    names = [line.split()[0] for line in block[1:]]
    assert names == list(celeba.ATTRIBUTE_NAMES)
    probabilities = np.array([float(line.split()[1]) for line in block[1:]])
    assert np.all((0 <= probabilities) & (probabilities <= 1))
    assert [line.split()[2] for line in block[1:]] == [
        'yes' if p > 0.5 else 'no' for p in probabilities]
  assert lines[82] == (f'wrote 3 faces (Smiling=1, Male=-1), their mean and '
                       f'grid.png to {out}')
  written = sorted(os.listdir(out))
  assert written == ['grid.png', 'mean.png'] + [f'sample_{i:03d}.png'
                                                for i in range(3)]
  samples = np.stack([_rgb(out / f'sample_{i:03d}.png') for i in range(3)])
  assert samples.shape == (3, 64, 64, 3) and samples.std() > STD_FLOOR
  mean = _rgb(out / 'mean.png').astype(np.float64)
  np.testing.assert_allclose(mean, samples.mean(axis=0), atol=1.5)


def test_generate_binary_predicts_attributes_of_test_faces(tiny):
  workdir, faces, image_dir = tiny
  lines = generate_lines(workdir, '--test_index=0',
                         f'--data_dir={image_dir.parent}')
  assert lines[0] == 'test face 0:' and len(lines) == 41
  # The same as predicting the face written to a file and read back undetected.
  run = load_celeba_run(workdir)
  expected = generation.predict(
      run.model, run.variables, {'image': celeba_train.standardize(
          celeba_train.to_uint8(faces.test_images[:1]), run.stats.pixels)},
      'attributes', key=None)
  got = np.array([float(line.split()[1]) for line in lines[1:]])
  np.testing.assert_allclose(got, np.asarray(expected)[0], atol=5e-4)


@pytest.mark.parametrize('flags, message', [
    (['--attributes=Smilling=1'],
     "error: unknown attribute 'Smilling'; did you mean Smiling?"),
    (['--label=3'], 'error: CelebA runs take no --label'),
    (['--images=NONE'], 'error: NONE: no such file'),
])
def test_generate_binary_refuses_bad_requests_in_one_line(tiny, flags,
                                                          message):
  workdir, _, _ = tiny
  assert_one_line_error(
      run_module('experiments.generate', f'--workdir={workdir}', *flags), message)


def test_figures_binary_writes_celeba_figures(tiny, tmp_path):
  workdir, _, image_dir = tiny
  copy = tmp_path / 'run'
  shutil.copytree(workdir, copy)
  shutil.rmtree(copy / 'figures', ignore_errors=True)
  result = run_module('experiments.figures', f'--workdir={copy}',
                f'--faces={image_dir / FACE_FILES[0]}', '--num_samples=2')
  assert result.returncode == 0, result.stderr
  assert sorted(os.listdir(copy / 'figures')) == sorted(
      [celeba_figures.FIG4, celeba_figures.FIG5, run_figures.CURVES])
  assert_one_line_error(
      run_module('experiments.figures', f'--workdir={copy}', '--embedding=pca'),
      'error: CelebA runs take no --embedding')
