"""Figures, TensorBoard events and the two binaries, on tiny runs of synthetic data."""

import dataclasses
import gzip
import json
import os
import pickle

import cv2
import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from jmvae_jax import generation
from jmvae_jax.errors import UserError
from jmvae_jax.report import plotting, run_figures, summaries
from jmvae_jax.tasks.mnist import bidirectional, figures
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.mnist.experiment import train_and_evaluate
from jmvae_jax.tasks.mnist.restore import load_run
from tests.binaries import assert_one_line_error, run_module
from tests.fake_runs import generate_lines
from tests.synthetic import labelled_blobs

TINY = Config(model='jmvae_kl', epochs=2, warmup_epochs=1, batch_size=50,
              latent_dim=4, hidden_width=32, eval_k=2, eval_prior_samples=4,
              eval_batch_size=50, eval_chunk_size=2,
              verify_data=False)  # The data dir holds a synthetic mnist.pkl.gz.
MODELS = ('jmvae_kl', 'jmvae_zero', 'vae', 'cvae')
# Small settings of write_figures, shared by the library and binary tests.
SMALL = dict(embedding='pca', num_points=100, per_class=2, num_samples=3)
# Grey levels (0..255) inside each panel's axes vary more than this unless the
# panel is empty (std 0, tested). Tiny runs measured: Fig. 3 panels (100 points)
# 7.9, image grids 38 to 72, curves 12.6 to 14.1.
STD_FLOOR = 3.0


@pytest.fixture(scope='session')
def tiny(tmp_path_factory):
  """Trained tiny runs of every kind, and a data_dir holding their data."""
  root = tmp_path_factory.mktemp('tiny_runs')
  data = labelled_blobs(num_train=400, num_test=100)
  for name in MODELS:
    train_and_evaluate(dataclasses.replace(TINY, model=name),
                       str(root / name), data=data, log=lambda _: None)
  data_dir = root / 'data'
  data_dir.mkdir()
  split = ((data.train_images, data.train_labels),
           (data.test_images, data.test_labels),
           (data.test_images, data.test_labels))
  with gzip.open(data_dir / 'mnist.pkl.gz', 'wb') as f:
    pickle.dump(split, f)
  return root, data, data_dir


def _grey(path):
  image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
  assert image is not None, path
  return image


def _size(path):
  height, width = _grey(path).shape
  return width, height


def _panel_stds(path, boxes):
  """The std of the grey levels inside each (left, top, width, height) box,
  3 pixels in from its frame (the boxes of ``jmvae_jax.report.plotting``'s docs)."""
  grey = _grey(path).astype(np.float64)
  return [grey[top + 3:top + height - 3, left + 3:left + width - 3].std()
          for left, top, width, height in boxes]


def _grid_boxes(panels, rows, cols):
  """Image boxes of ``panels`` equal grid panels of rows x cols images."""
  height = 50 * rows + 75
  return [((50 * cols + 25) * i + 25, height - 5 - 50 * rows, 50 * cols,
           50 * rows) for i in range(panels)]


def test_figures_have_their_sizes_and_are_not_blank(tiny):
  root, data, _ = tiny
  messages = []
  paths = figures.write_figures(
      str(root / 'jmvae_kl'),
      compare=[str(root / name) for name in ('vae', 'cvae', 'jmvae_zero')],
      data=data, log=messages.append, **SMALL)
  assert set(paths) == {figures.FIG3, figures.FIG6, figures.FIG7,
                        run_figures.CURVES, 'events', 'report'}
  expected = {  # name: (PNG size, panel boxes)
      figures.FIG3: ((400 * 4 + 100, 450),  # 4 runs and a legend.
                     [(400 * i + 25, 75, 350, 350) for i in range(4)]),
      figures.FIG6: ((3 * (50 * 2 + 25), 50 * 10 + 75),  # 3 panels of 10 x 2.
                     _grid_boxes(3, 10, 2)),
      figures.FIG7: ((3 * (50 * 3 + 25), 50 * 10 + 75),  # kl, cvae, zero.
                     _grid_boxes(3, 10, 3)),
      run_figures.CURVES: ((350 * 3, 275 * 3 + 50),  # 7 terms of JMVAE-kl.
                       [(350 * (k % 3) + 60, 275 * (k // 3) + 80, 270, 200)
                        for k in range(7)]),
  }
  for name, (size, boxes) in expected.items():
    assert os.path.dirname(paths[name]) == str(root / 'jmvae_kl' / 'figures')
    assert _size(paths[name]) == size, name
    assert min(_panel_stds(paths[name], boxes)) > STD_FLOOR, name
  assert len(messages) == len(paths)


def test_empty_panels_have_no_variance(tmp_path):
  grid = plotting.image_grids(
      [('a', np.zeros((10, 2, 28, 28)))] * 3, tmp_path / 'grid.png', title='t',
      row_labels=[str(d) for d in range(10)])
  scatter = plotting.embeddings(
      [('a', np.zeros((0, 2)), np.zeros(0, np.int32))] * 4,
      tmp_path / 'scatter.png', title='t')
  assert max(_panel_stds(grid, _grid_boxes(3, 10, 2))) == 0
  boxes = [(400 * i + 25, 75, 350, 350) for i in range(4)]
  assert max(_panel_stds(scatter, boxes)) == 0


def test_models_without_encoder_pairs_skip_fig6(tiny, tmp_path):
  root, data, _ = tiny
  messages = []
  paths = figures.write_figures(str(root / 'vae'), data=data,
                                log=messages.append, **SMALL)
  assert figures.FIG6 not in paths and figures.FIG7 not in paths
  assert _size(paths[figures.FIG3]) == (500, 450)
  # loss, kl_prior, kl_weight, recon/image: two rows.
  assert _size(paths[run_figures.CURVES]) == (1050, 600)
  assert any(m.startswith(f'skipped {figures.FIG6}') for m in messages)


def test_tensorboard_reads_back_the_curves_results_and_figures(tiny):
  root, data, _ = tiny
  workdir = root / 'jmvae_zero'
  for _ in range(2):  # Writing again replaces the earlier event file.
    paths = figures.write_figures(str(workdir), data=data, log=lambda _: None,
                                  **SMALL)
  events = [p for p in os.listdir(workdir) if p.endswith(summaries.FILE_SUFFIX)]
  assert [os.path.join(workdir, events[0])] == [paths['events']]

  accumulator = event_accumulator.EventAccumulator(
      str(workdir), size_guidance={event_accumulator.SCALARS: 0,
                                   event_accumulator.IMAGES: 0})
  accumulator.Reload()
  records = [json.loads(line)
             for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
  for name in ('loss', 'recon/image', 'recon/label', 'kl_prior', 'kl_weight'):
    scalars = accumulator.Scalars(f'train/{name}')
    assert [s.step for s in scalars] == [1, 2]
    np.testing.assert_allclose([s.value for s in scalars],
                               [r[name] for r in records], rtol=1e-6)
  results = json.loads((workdir / 'results.json').read_text())
  (elbo,) = accumulator.Scalars('test/test_elbo')
  assert elbo.step == 2 and elbo.value == pytest.approx(results['test_elbo'])
  tags = accumulator.Tags()[event_accumulator.IMAGES]
  assert sorted(tags) == sorted(f'figures/{os.path.splitext(name)[0]}'
                                for name in paths
                                if name not in ('events', 'report'))
  (image,) = accumulator.Images('figures/fig6_reconstructions')
  assert (image.width, image.height) == _size(paths[figures.FIG6])
  with open(paths[figures.FIG6], 'rb') as f:
    assert image.encoded_image_string == f.read()


def test_embeddings_are_two_dimensional():
  latents = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
  for method in figures.EMBEDDINGS:
    points = figures.embed_2d(latents, method=method, seed=0)
    assert points.shape == (40, 2) and np.isfinite(points).all()
  with pytest.raises(UserError, match='unknown embedding'):
    figures.embed_2d(latents, method='umap', seed=0)


def test_a_missing_compared_run_is_named_by_its_flag(tiny, tmp_path):
  root, data, _ = tiny
  with pytest.raises(UserError, match=(
      f'^--compare={tmp_path / "vae"} is not a directory; give the directory '
      'of a trained run, or train one there first')):
    figures.write_figures(str(root / 'jmvae_kl'),
                          compare=[str(tmp_path / 'vae')], data=data,
                          log=lambda _: None, **SMALL)


def test_incomplete_workdirs_are_refused_with_their_reason(tiny, tmp_path):
  root, _, _ = tiny
  with pytest.raises(UserError, match='is not a directory'):
    load_run(tmp_path / 'missing')
  with pytest.raises(UserError, match='holds no config.json'):
    load_run(tmp_path)
  (tmp_path / 'config.json').write_text(TINY.to_json())
  with pytest.raises(UserError, match='holds no checkpoints/'):
    load_run(tmp_path)
  (tmp_path / 'checkpoints').mkdir()
  with pytest.raises(UserError, match='holds no complete checkpoint'):
    load_run(tmp_path)
  (tmp_path / 'config.json').write_text('{"model": "jmvae')
  with pytest.raises(UserError, match='cannot read'):
    load_run(tmp_path)
  run = load_run(root / 'jmvae_kl')
  assert run.epoch == 2 and run.config.model == 'jmvae_kl'


def test_figures_binary_writes_pngs(tiny):
  root, _, data_dir = tiny
  result = run_module('experiments.figures', f'--workdir={root / "cvae"}',
                f'--compare={root / "jmvae_kl"}', f'--data_dir={data_dir}',
                *(f'--{name}={value}' for name, value in SMALL.items()))
  assert result.returncode == 0, result.stderr
  written = sorted(os.listdir(root / 'cvae' / 'figures'))
  assert written == sorted([figures.FIG3, figures.FIG7, run_figures.CURVES])
  assert f'skipped {figures.FIG6}' in result.stdout
  assert_one_line_error(
      run_module('experiments.figures', f'--workdir={root / "cvae"}',
           '--faces=face.jpg'), 'error: MNIST runs take no --faces')


def test_generate_binary_classifies_files_and_writes_samples(tiny, tmp_path):
  root, data, _ = tiny
  files = []
  for i, (size, ext) in enumerate((((28, 28), 'png'), ((90, 60), 'jpg'))):
    path = tmp_path / f'digit{i}.{ext}'
    image = (data.test_images[i].reshape(28, 28) * 255).astype(np.uint8)
    cv2.imwrite(str(path), cv2.resize(image, size))
    files.append(str(path))
  out = tmp_path / 'sevens'
  result = run_module('experiments.generate', f'--workdir={root / "jmvae_kl"}',
                f'--images={",".join(files)}', '--label=7', '--num=4',
                f'--out={out}')
  assert result.returncode == 0, result.stderr
  lines = result.stdout.strip().splitlines()
  assert [line.split(':')[0] for line in lines[:2]] == files
  for line in lines[:2]:
    probabilities = [float(part.split(':')[1]) for part in line.split()[-10:]]
    assert abs(sum(probabilities) - 1) < 0.01
  assert lines[2] == f'wrote 4 images of 7, their mean and grid.png to {out}'
  written = sorted(os.listdir(out))
  assert written == ['grid.png', 'mean.png'] + [f'sample_{i:03d}.png'
                                                for i in range(4)]
  samples = np.stack([_grey(out / f'sample_{i:03d}.png') for i in range(4)])
  # Black digits on white, as in the figures: each pixel is 1 - p(x|z)'s mean
  # for the binary's draws (seed 0).
  run = load_run(root / 'jmvae_kl')
  means = generation.generate(
      run.model, run.params, {'label': np.eye(10, dtype=np.float32)[[7]]},
      'image', key=jax.random.key(0), num_samples=4).samples
  np.testing.assert_allclose(
      samples / 255, 1 - np.asarray(means)[:, 0].reshape(4, 28, 28),
      atol=1 / 255 + 1e-6)  # 8-bit rounding.
  np.testing.assert_allclose(_grey(out / 'mean.png'), samples.mean(axis=0),
                             atol=1)
  # The grid: 2 x 2 samples, 2 white pixels apart.
  grid = _grey(out / 'grid.png')
  assert grid.shape == (58, 58)
  for i, sample in enumerate(samples):
    top, left = 30 * (i // 2), 30 * (i % 2)
    np.testing.assert_array_equal(grid[top:top + 28, left:left + 28], sample)
  assert (grid[28:30] == 255).all() and (grid[:, 28:30] == 255).all()


def test_generate_binary_classifies_test_images(tiny):
  root, data, data_dir = tiny
  lines = generate_lines(root / 'jmvae_kl', '--test_index=0,3',
                         f'--data_dir={data_dir}')
  assert [line.split(':')[0] for line in lines] == [
      f'test image {i} (label {data.test_labels[i]})' for i in (0, 3)]
  # The same predictions as for the images written to files.
  expected = bidirectional.classify_test_images(
      str(root / 'jmvae_kl'), [0, 3], data=data)
  assert [p.describe() for p in expected] == lines
  assert_one_line_error(
      run_module('experiments.generate', f'--workdir={root / "jmvae_kl"}',
                 '--test_index=100', f'--data_dir={data_dir}'),
      'error: --test_index [100] out of range: the test set has 100 images')


def test_generate_binary_reports_an_unreadable_file_in_one_line(tiny,
                                                               tmp_path):
  root, _, _ = tiny
  bad = tmp_path / 'bad.png'
  bad.write_text('not an image')
  result = run_module('experiments.generate', f'--workdir={root / "jmvae_kl"}',
                f'--images={bad}')
  assert_one_line_error(result, f'error: {bad}: cannot be read as an image')


def test_generate_binary_refuses_celeba_flags_in_one_line(tiny):
  root, _, _ = tiny
  result = run_module('experiments.generate', f'--workdir={root / "jmvae_kl"}',
                '--attributes=Smiling=1')
  assert_one_line_error(result, 'error: MNIST runs take no --attributes')


@pytest.mark.parametrize('call, message', [
    (lambda run, tmp: bidirectional.classify_files(run, [str(tmp / 'no.png')]),
     'no.png: no such file'),
    (lambda run, tmp: bidirectional.classify_files(run, []),
     'give at least one image file'),
    (lambda run, tmp: bidirectional.write_generated(run, 12, num=2, out=tmp),
     '--label must be a digit 0..9, got 12'),
    (lambda run, tmp: bidirectional.write_generated(run, 1, num=0, out=tmp),
     '--num must be >= 1'),
])
def test_bad_requests_are_refused(tiny, tmp_path, call, message):
  root, _, _ = tiny
  with pytest.raises(UserError, match=message):
    call(str(root / 'jmvae_kl'), tmp_path)


def test_models_without_the_direction_are_refused(tiny, tmp_path):
  root, data, _ = tiny
  digit = tmp_path / 'digit.png'
  cv2.imwrite(str(digit), np.zeros((28, 28), np.uint8))
  with pytest.raises(UserError, match='a vae, which cannot generate images'):
    bidirectional.write_generated(str(root / 'vae'), 3, num=2, out=tmp_path)
  with pytest.raises(UserError, match='a cvae, which cannot predict labels'):
    bidirectional.classify_files(str(root / 'cvae'), [str(digit)])
