"""Released models: a trained run's parameters alone, in a small folder.

A released model is a folder (written by ``jmvae_jax.tasks.mnist.export.export_run``):

  config.json   the run's Config, as in its workdir
  params.npz    the parameters, one array per '/'-joined path, e.g.
                'x_decoder/params/Dense_0/kernel' (NumPy's compressed npz,
                readable without JAX; bfloat16 parameters are stored as their
                uint16 bits, as release.json's 'storage_dtype' says)
  release.json  provenance (source run, epoch, storage dtype, the SHA-256 and
                size of params.npz) and the check bound: a test bound measured
                at export, with exactly the settings it names
  results.json  the run's test results, when it had them
  metrics.jsonl its per-epoch training metrics and learning-curve bounds,
                when it had them (models exported after 2026-12-04)

One call loads it:

  model, params, config = release.load_model('results/mnist_paper/models/'
                                             'jmvae_kl_0.1_seed0')

ready for ``jmvae_jax.bounds`` and ``jmvae_jax.generation``. The folder also
looks like a workdir to ``jmvae_jax.tasks.mnist.restore.load_run``, so
``python -m experiments.figures --workdir=FOLDER`` and
``python -m experiments.generate --workdir=FOLDER`` take it as they take a run
(they write their outputs into it, as into a run's workdir).

Sizes: the 3.1 M float32 parameters of JMVAE-kl take 11.7 MB as params.npz,
bfloat16 storage 5.0 MB (see ``jmvae_jax.tasks.mnist.export`` for when it is allowed).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, NamedTuple

import jax
import ml_dtypes
import numpy as np

from jmvae_jax.data import cache
from jmvae_jax.errors import UserError
from jmvae_jax.models import LEGACY_PARAM_NAMES
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.training.checkpoints import rename_keys
from jmvae_jax.training.json_files import read_json_object

CONFIG_FILE = 'config.json'
PARAMS_FILE = 'params.npz'
RELEASE_FILE = 'release.json'
RESULTS_FILE = 'results.json'
METRICS_FILE = 'metrics.jsonl'
FORMAT_VERSION = 1
STORAGE_DTYPES = ('float32', 'bfloat16')
_EXPORT_AGAIN = 'export the model again'


class ReleasedModel(NamedTuple):
  """What ``load_model`` returns.

  Attributes:
    model: the evaluation model the config builds (float32 products).
    params: its parameters, float32 arrays on the default device.
    config: the settings the model was trained with.
  """

  model: Any
  params: Any
  config: Config


def is_released_model(path: str | os.PathLike) -> bool:
  """Whether ``path`` is a folder written by ``export_run``."""
  path = os.path.expanduser(os.fspath(path))
  return all(os.path.isfile(os.path.join(path, name))
             for name in (CONFIG_FILE, PARAMS_FILE, RELEASE_FILE))


def sha256(path: str) -> str:
  """The SHA-256 of a file, in hex."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def read_release(path: str | os.PathLike) -> dict[str, Any]:
  """The release.json of the released model in ``path``.

  Raises:
    UserError: ``path`` is not a released model's folder.
  """
  path = os.path.expanduser(os.fspath(path))
  if not is_released_model(path):
    raise UserError(f'{path} is not a released model (it needs '
                    f'{CONFIG_FILE}, {PARAMS_FILE} and {RELEASE_FILE}); '
                    'write one with jmvae_jax.tasks.mnist.export.export_run')
  return read_json_object(os.path.join(path, RELEASE_FILE), fix=_EXPORT_AGAIN)


def load_model(path: str | os.PathLike) -> ReleasedModel:
  """Loads a released model: ``model, params, config = load_model(path)``.

  Args:
    path: a folder written by ``export_run`` (e.g.
      results/mnist_paper/models/jmvae_kl_0.1_seed0).

  Returns:
    The evaluation model, its float32 parameters and its settings.

  Raises:
    UserError: ``path`` is not a released model, params.npz does not match
      the SHA-256 recorded at export, or its arrays do not fit the model.
  """
  path = os.path.abspath(os.path.expanduser(os.fspath(path)))
  release = read_release(path)
  if release.get('format') != FORMAT_VERSION:
    raise UserError(f'{path} is a released model of format '
                    f'{release.get("format")}; this version of jmvae_jax reads '
                    f'format {FORMAT_VERSION}: export the model again')
  storage_dtype = release.get('storage_dtype')
  if storage_dtype not in STORAGE_DTYPES:
    raise UserError(f'{path} records the storage dtype {storage_dtype!r}, not '
                    f'one of {STORAGE_DTYPES}; {_EXPORT_AGAIN}')
  params_path = os.path.join(path, PARAMS_FILE)
  if sha256(params_path) != release.get('params_sha256'):
    raise UserError(f'{params_path} does not match the SHA-256 in '
                    f'{RELEASE_FILE}: it is damaged or was replaced; restore '
                    'it (git checkout) or export the model again')
  config = Config.from_dict(
      read_json_object(os.path.join(path, CONFIG_FILE), fix=_EXPORT_AGAIN))
  model = config.build_model(training=False)
  with np.load(params_path) as stored:
    flat = {name: stored[name] for name in stored.files}
  if storage_dtype == 'bfloat16':
    flat = {name: value.view(ml_dtypes.bfloat16)
            for name, value in flat.items()}
  expected = jax.eval_shape(model.init, jax.random.key(0))
  params = cache.unflatten_params(
      {name: value.astype(np.float32) for name, value in flat.items()})
  # Models released before modalities had names: 'x_encoder' -> 'image_encoder'.
  params = rename_keys(params, {
      old: new for old, new in LEGACY_PARAM_NAMES.items() if old not in expected})
  if (jax.tree.structure(expected) != jax.tree.structure(params)
      or any(e.shape != p.shape for e, p in zip(
          jax.tree.leaves(expected), jax.tree.leaves(params)))):
    raise UserError(f'the arrays of {params_path} do not fit the model of '
                    f'its {CONFIG_FILE}; export the model again')
  return ReleasedModel(model=model, params=jax.device_put(params),
                       config=config)


def write_params(path: str, params: Any, storage_dtype: str) -> None:
  """Writes ``params`` as a compressed npz (module docstring), atomically.

  Args:
    path: the file to write (params.npz).
    params: a nested dict of float arrays.
    storage_dtype: 'float32', or 'bfloat16' (rounded, stored as uint16 bits).
  """
  if storage_dtype not in STORAGE_DTYPES:
    raise UserError(f'the storage dtype must be one of {STORAGE_DTYPES}, got '
                    f'{storage_dtype!r}')
  flat = cache.flatten_params(params)
  cast = np.float32 if storage_dtype == 'float32' else ml_dtypes.bfloat16
  flat = {name: value.astype(cast) for name, value in flat.items()}
  if storage_dtype == 'bfloat16':
    flat = {name: value.view(np.uint16) for name, value in flat.items()}
  tmp = f'{path}.tmp.npz'
  np.savez_compressed(tmp, **flat)
  os.replace(tmp, path)
