"""The shared test-set loop: per-example values in order, their means, and the
warning when a handful of examples set a mean."""

import re

import jax
import jax.numpy as jnp
import numpy as np

from jmvae_jax.training import evaluation, parallel


def test_values_over_batches_keeps_every_example_and_drops_the_padding():
  rng = np.random.default_rng()
  num, batch_size = int(rng.integers(21, 40)), 10
  images = rng.normal(size=(num, 3)).astype(np.float32)
  labels = rng.integers(0, 10, size=num)
  key = jax.random.key(int(rng.integers(2**31)))

  def metrics_fn(batch, batch_key):
    x, w = batch
    draw = jax.random.uniform(batch_key)  # One draw per batch.
    return {'sum': jnp.sum(x, -1), 'label_plus_draw': w.astype(jnp.float32) + draw}

  lines = []
  values = evaluation.values_over_batches(
      metrics_fn, (images, labels), batch_size=batch_size,
      mesh=parallel.make_data_mesh(), key=key, log=lines.append)
  assert list(values) == ['label_plus_draw', 'sum']
  np.testing.assert_allclose(values['sum'], images.sum(-1), rtol=1e-6)
  # Example n sits in batch n // batch_size, whose key is fold_in(key, i).
  draws = np.array([jax.random.uniform(jax.random.fold_in(key, n // batch_size))
                    for n in range(num)])
  np.testing.assert_allclose(values['label_plus_draw'], labels + draws,
                             rtol=1e-6)
  assert lines[-1].startswith(f'evaluating: {num}/{num} test examples')
  means = evaluation.means(values)
  np.testing.assert_allclose(means['sum'], images.sum(-1).mean(), rtol=1e-5)


def _parse(line):
  numbers = re.findall(r'-?\d+\.?\d*', line.split(':', 2)[2])
  return [float(n) for n in numbers]


def test_no_warning_for_a_light_tailed_mean():
  rng = np.random.default_rng()
  values = rng.normal(-89.0, 5.0, size=10_000)
  values[rng.integers(10_000)] = -300.0  # Moves the mean by 0.02 nats.
  assert evaluation.heavy_tail_line('joint', values) is None


def test_one_image_that_sets_the_mean_is_named_with_the_mean_without_it():
  rng = np.random.default_rng()
  num = int(rng.integers(5_000, 20_000))
  values = rng.normal(-89.0, 5.0, size=num)
  culprit = int(rng.integers(num))
  values[culprit] = -12_000.0 - rng.random()
  line = evaluation.heavy_tail_line('marginal_multiple', values,
                                    what='test images')
  few = int(np.ceil(num / 1000))
  farthest = np.argsort(-np.abs(values - np.median(values)))[:few]
  rest = np.delete(values, farthest).mean()
  assert line.startswith(f'warning: {few} of {num} test images move the mean '
                         'of marginal_multiple by -')
  assert f'example {culprit},' in line
  mean, without, _, worst, median = _parse(line)
  np.testing.assert_allclose([mean, without, worst, median],
                             [values.mean(), rest, values[culprit],
                              np.median(values)], atol=0.06)


def test_the_tolerance_is_the_move_of_the_mean():
  values = np.zeros(1000)
  values[0] = -310.0  # Without it the mean moves by 0.310 nats.
  assert evaluation.heavy_tail_line('joint', values, tolerance=0.3)
  assert evaluation.heavy_tail_line('joint', values, tolerance=0.32) is None


def test_mean_over_batches_warns_for_the_watched_metrics_only():
  rng = np.random.default_rng()
  values = rng.normal(-89.0, 5.0, size=(2000, 1)).astype(np.float32)
  culprit = int(rng.integers(2000))
  values[culprit] = -12_000.0

  def metrics_fn(batch, batch_key):
    del batch_key
    (x,) = batch
    return {'bound': x[:, 0], 'test_term': x[:, 0]}

  lines = []
  means = evaluation.mean_over_batches(
      metrics_fn, (values,), batch_size=100, mesh=parallel.make_data_mesh(),
      key=jax.random.key(0), what='test images', log=lines.append,
      watch_tails=lambda name: not name.startswith('test_'))
  warnings = [line for line in lines if line.startswith('warning:')]
  assert len(warnings) == 1
  assert 'the mean of bound by' in warnings[0]
  assert f'example {culprit},' in warnings[0]
  np.testing.assert_allclose(means['bound'], values.mean(), rtol=1e-5)
  # Beside the mean, the mean without the 2 of 2,000 farthest from the median.
  farthest = np.argsort(-np.abs(values[:, 0] - np.median(values)))[:2]
  np.testing.assert_allclose(means['bound/without_outliers'],
                             np.delete(values[:, 0], farthest).mean(),
                             rtol=1e-5)
  assert sorted(means) == ['bound', 'bound/without_outliers', 'test_term']


def test_a_light_tailed_mean_is_returned_alone():
  rng = np.random.default_rng()
  values = rng.normal(-89.0, 5.0, size=(500, 1)).astype(np.float32)

  def metrics_fn(batch, batch_key):
    del batch_key
    return {'bound': batch[0][:, 0]}

  lines = []
  means = evaluation.mean_over_batches(
      metrics_fn, (values,), batch_size=100, mesh=parallel.make_data_mesh(),
      key=jax.random.key(0), log=lines.append, watch_tails=lambda name: True)
  assert list(means) == ['bound']
  assert not [line for line in lines if line.startswith('warning:')]
