"""Exporting a trained MNIST run as a released model (``jmvae_jax.tasks.mnist.release``).

``export_run(WORKDIR, OUT)`` writes the newest parameters of the run (no
optimizer state, no PRNG key), its config and results into the folder OUT, and
records beside them its check bound:

  the model's main test bound on the first ``CHECK_IMAGES`` MNIST test images
  (binarized by ``mnist.binarize_once``, as evaluation does), with ``CHECK_K``
  importance samples, the key ``jax.random.key(CHECK_SEED)`` and chunks of
  ``CHECK_CHUNK_SIZE``: the marginal multiple bound (Eq. 6) for JMVAE, the
  single one (Eq. 7) for a VAE, the conditional multiple bound (Eq. 8) for
  CVAE and CMMA.

A loaded model must give the recorded value within ``CHECK_TOLERANCE`` nats
(tests/test_released_models.py). The same draws serve every evaluation of it,
so what differs between two evaluations is the arithmetic, not Monte Carlo
noise.

bfloat16 storage halves the file. It is written only when the check bound of
the bfloat16-rounded parameters is within ``BFLOAT16_TOLERANCE`` nats of
float32's (``bfloat16_difference``); otherwise ``export_run`` refuses. On the
JMVAE-kl alpha=0.1 paper run after 144 of 500 epochs the two differed by
0.001 nats (-88.9702 against -88.9713).
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jmvae_jax import bounds
from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.mnist import release, restore
from jmvae_jax.training.workdir import write_json_atomically

CHECK_IMAGES = 500
CHECK_K = 100
CHECK_SEED = 0
CHECK_CHUNK_SIZE = 50
CHECK_TOLERANCE = 0.05  # Nats: a loaded model against its record.
BFLOAT16_TOLERANCE = 0.01  # Nats: bfloat16-stored against float32 parameters.


def check_bound_name(model: Any) -> str:
  """The results.json key of ``model``'s check bound (module docstring)."""
  if hasattr(model, 'conditional_prior'):  # CVAE, CMMA.
    return 'conditional_multiple'
  if hasattr(model, 'encode'):
    return 'marginal_multiple'
  return 'marginal_single'


def check_images(data: mnist.LabelledImages
                 ) -> tuple[np.ndarray, np.ndarray]:
  """The check bound's data: binary images [N, 784], one-hot labels [N, 10].

  The first ``CHECK_IMAGES`` test images, binarized by ``mnist.binarize_once``:
  the same bits as the first rows of the whole binarized test set that
  evaluation uses, since its uniforms are drawn row by row.
  """
  images = mnist.binarize_once(data.test_images[:CHECK_IMAGES])
  labels = np.eye(mnist.NUM_CLASSES, dtype=np.float32)[
      data.test_labels[:CHECK_IMAGES]]
  return images, labels


def check_bound_values(model: Any, params: Any, images: np.ndarray,
                       labels: np.ndarray) -> jax.Array:
  """The check bound of each example, [N] nats.

  Args:
    model: a model of ``jmvae_jax.models``.
    params: its parameters.
    images: binary images [N, 784].
    labels: one-hot labels [N, 10].

  Returns:
    ``check_bound_name(model)`` (Eq. 6, 7 or 8) with ``CHECK_K`` samples and
    the key ``jax.random.key(CHECK_SEED)``, per example.
  """
  name = check_bound_name(model)
  common = dict(key=jax.random.key(CHECK_SEED), k=CHECK_K,
                chunk_size=CHECK_CHUNK_SIZE)
  if name == 'conditional_multiple':
    return bounds.iw_conditional(model, params, images, labels, **common)
  if name == 'marginal_multiple':
    return bounds.iw_marginal(model, params, images, labels,
                              proposal='multiple', **common)
  return bounds.iw_marginal(model, params, images, proposal='single', **common)


def check_bound(model: Any, params: Any, images: np.ndarray,
                labels: np.ndarray) -> float:
  """The mean of ``check_bound_values``, in nats."""
  return float(jnp.mean(check_bound_values(model, params, images, labels)))


def round_to_bfloat16(params: Any) -> Any:
  """``params`` rounded to bfloat16 and widened back to float32 (same tree)."""
  return jax.tree.map(
      lambda a: jnp.asarray(a, jnp.bfloat16).astype(jnp.float32), params)


def bfloat16_difference(model: Any, params: Any, images: np.ndarray,
                        labels: np.ndarray) -> dict[str, float]:
  """The check bound of float32 parameters and of bfloat16-stored ones.

  Both use the same draws (the same key), so the difference is the storage's
  effect alone.

  Args:
    model: a model of ``jmvae_jax.models``.
    params: its float32 parameters.
    images: binary images [N, 784] (``check_images``).
    labels: one-hot labels [N, 10].

  Returns:
    'float32' and 'bfloat16': the mean check bounds in nats; 'difference':
    bfloat16 - float32; 'max_abs_example_difference': the largest change of
    one example's bound.
  """
  full = check_bound_values(model, params, images, labels)
  rounded = check_bound_values(model, round_to_bfloat16(params), images,
                               labels)
  return {
      'float32': float(jnp.mean(full)),
      'bfloat16': float(jnp.mean(rounded)),
      'difference': float(jnp.mean(rounded - full)),
      'max_abs_example_difference': float(jnp.max(jnp.abs(rounded - full))),
  }


def export_run(workdir: str | os.PathLike, out_dir: str | os.PathLike, *,
               storage_dtype: str = 'float32',
               data: mnist.LabelledImages | None = None,
               log: Callable[[str], None] = print) -> str:
  """Writes the released model of WORKDIR's MNIST run into ``out_dir``.

  Args:
    workdir: a run made by ``experiment.train_and_evaluate``; its newest
      checkpoint is exported.
    out_dir: the model's folder, created if needed; its files are replaced.
    storage_dtype: 'float32'; 'bfloat16' (only when the check bound moves
      by at most ``BFLOAT16_TOLERANCE``, else UserError); or 'auto':
      bfloat16 when it may, else float32. With either of the last two, both
      bounds go into release.json as 'bfloat16_check'.
    data: MNIST for the check bound; by default loaded from the run's
      config.data_dir.
    log: receives one line with the folder, its size and the check bound.

  Returns:
    ``out_dir``, absolute.

  Raises:
    UserError: the run cannot be loaded, ``out_dir`` is the run's own folder,
      MNIST is missing, a bad ``storage_dtype``, the check bound is not
      finite, or bfloat16 storage would move the bound too much.
  """
  choices = release.STORAGE_DTYPES + ('auto',)
  if storage_dtype not in choices:
    raise UserError(f'storage_dtype must be one of {choices}, got '
                    f'{storage_dtype!r}')
  run = restore.load_run(workdir)
  out_dir = os.path.abspath(os.path.expanduser(os.fspath(out_dir)))
  if out_dir == run.workdir:
    raise UserError(f'{out_dir} is the run itself; export it into a folder of '
                    'its own (e.g. results/mnist_paper/models/NAME)')
  config = run.config
  model = config.build_model(training=False)
  if data is None:
    data = mnist.load_mnist(os.path.expanduser(config.data_dir),
                            verify=config.verify_data,
                            pixel_scale=config.pixel_scale)
  images, labels = check_images(data)
  params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), run.params)
  extra: dict[str, Any] = {}
  if storage_dtype == 'float32':
    value = check_bound(model, params, images, labels)
  else:
    measured = bfloat16_difference(model, params, images, labels)
    extra['bfloat16_check'] = dict(measured, tolerance=BFLOAT16_TOLERANCE)
    close = abs(measured['difference']) <= BFLOAT16_TOLERANCE
    if storage_dtype == 'bfloat16' and not close:
      raise UserError(
          f'bfloat16 storage moves the check bound of {run.workdir} by '
          f'{measured["difference"]:+.4f} nats, more than '
          f'{BFLOAT16_TOLERANCE}; export it with storage_dtype=float32')
    storage_dtype = 'bfloat16' if close else 'float32'
    value = measured[storage_dtype]

  if not np.isfinite(value):
    raise UserError(f'the check bound of {run.workdir} is {value}: the model '
                    'has diverged; retrain it before releasing it')
  os.makedirs(out_dir, exist_ok=True)
  params_path = os.path.join(out_dir, release.PARAMS_FILE)
  release.write_params(params_path, params, storage_dtype)
  write_json_atomically(os.path.join(out_dir, release.CONFIG_FILE),
                        config.to_json())
  # The run's results and per-epoch metrics (with its learning curves), so
  # that they outlive the run directory.
  for name in (release.RESULTS_FILE, release.METRICS_FILE):
    source, copy = (os.path.join(run.workdir, name),
                    os.path.join(out_dir, name))
    if os.path.isfile(source):
      shutil.copyfile(source, copy)
    elif os.path.isfile(copy):  # An earlier export's, of another run.
      os.remove(copy)
  record = {
      'format': release.FORMAT_VERSION,
      'source_workdir': run.workdir,
      'epoch': run.epoch,
      'model': config.model,
      'alpha': config.alpha,
      'storage_dtype': storage_dtype,
      'num_params': int(sum(np.size(a) for a in jax.tree.leaves(params))),
      'params_bytes': os.path.getsize(params_path),
      'params_sha256': release.sha256(params_path),
      'check': {
          'bound': check_bound_name(model),
          'value': value,
          'num_images': CHECK_IMAGES,
          'images': (f'the first {CHECK_IMAGES} MNIST test images, binarized '
                     'by jmvae_jax.data.mnist.binarize_once (seed 1234)'),
          'data_source': data.source,
          'pixel_scale': data.pixel_scale,
          'k': CHECK_K,
          'key': f'jax.random.key({CHECK_SEED})',
          'chunk_size': CHECK_CHUNK_SIZE,
          'tolerance': CHECK_TOLERANCE,
      },
      **extra,
  }
  write_json_atomically(os.path.join(out_dir, release.RELEASE_FILE),
                        json.dumps(record, indent=2, sort_keys=True))
  log(f'exported {run.name} (epoch {run.epoch}) to {out_dir}: '
      f'{record["params_bytes"] / 1e6:.1f} MB of {storage_dtype} parameters, '
      f'check bound {record["check"]["bound"]} = {value:.3f}')
  return out_dir


def recheck(path: str | os.PathLike,
            data: mnist.LabelledImages) -> dict[str, float]:
  """Loads the released model in ``path`` and measures its check bound again.

  Args:
    path: a released model's folder.
    data: MNIST at the pixel scale of the check (the model's), or the data
      the model was exported with.

  Returns:
    'recorded' (from release.json), 'measured' and 'tolerance', in nats.

  Raises:
    UserError: the model cannot be loaded, its record names settings other
      than this module's, or ``data`` is at another pixel scale.
  """
  record = release.read_release(path).get('check', {})
  settings = {'num_images': CHECK_IMAGES, 'k': CHECK_K,
              'key': f'jax.random.key({CHECK_SEED})',
              'chunk_size': CHECK_CHUNK_SIZE}
  differing = {name: record.get(name) for name, value in settings.items()
               if record.get(name) != value}
  if differing:
    raise UserError(f'{path} recorded its check bound with {differing}, not '
                    f'this version\'s {settings}; export it again')
  model, params, config = release.load_model(path)
  # Releases older than this field were checked at their run's scale.
  scale = record.get('pixel_scale', config.pixel_scale)
  if data.pixel_scale != scale:
    raise UserError(f'{path} was checked on images at / {scale}, the data '
                    f'given are at / {data.pixel_scale}: load MNIST with '
                    f'pixel_scale={scale}')
  if record['bound'] != check_bound_name(model):
    raise UserError(f'{path} recorded the bound {record["bound"]!r}, but its '
                    f'model\'s check bound is {check_bound_name(model)!r}; '
                    'export it again')
  images, labels = check_images(data)
  return {'recorded': float(record['value']),
          'measured': check_bound(model, params, images, labels),
          'tolerance': float(record['tolerance'])}
