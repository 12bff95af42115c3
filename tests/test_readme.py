"""The README's commands run as written, in the order written, on a tiny budget.

Every line of the README's ```sh blocks is checked, so the README cannot drift
from the code:

* ``python -m experiments.X ...``: run as written, in a fresh directory (as
  on a fresh clone: the committed results/ but no runs/ yet), with flags
  appended that shrink the budget (``_TINY``: one epoch, k = 2, tiny
  networks) and point the data at fixtures (synthetic MNIST-like digits;
  the CelebA fixture of ``tests.celeba_fixture`` for the placeholder
  PATH_TO_CELEBA). Later flags win in absl, so the README's own settings
  are overridden only where appended.
* ``make TARGET``: the Makefile has the target (running it would set up a
  venv and train for minutes).
* ``. .venv/bin/activate``: skipped; commands run with this test's Python.
* ``tensorboard --logdir=DIR``: not started (it is a server); instead
  TensorBoard's own event reader must find the curves and test bounds of the
  runs under DIR, which is what the server would show.

The fast test checks that every line is of a kind above and names no file the
repository lacks; the slow one runs them (minutes: about 20 processes, 10
tiny trainings). The ```python blocks of "Using the library" run too, in one
namespace, on a random batch x [4, 784], w [4, 10].
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import pathlib
import pickle
import re
import shlex
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing import event_multiplexer

from jmvae_jax import tasks
from tests.binaries import ROOT
from tests.celeba_fixture import make_celeba_fixture
from tests.synthetic import labelled_blobs

README = pathlib.Path(ROOT) / 'README.md'
CELEBA_PLACEHOLDER = 'PATH_TO_CELEBA'
# Appended to each binary's command (see the module docstring).
_MNIST_RUN = ('--epochs=1', '--warmup_epochs=1', '--batch_size=50',
              '--latent_dim=4', '--hidden_width=16', '--eval_k=2',
              '--eval_prior_samples=4', '--eval_batch_size=50',
              '--eval_chunk_size=2', '--curve_k=2', '--curve_examples=50',
              '--train_examples=400', '--noverify_data')
_CELEBA_RUN = ('--epochs=1', '--warmup_epochs=1', '--batch_size=4',
               '--eval_k=2', '--eval_prior_samples=4', '--cache_dir=')
_POLYMNIST_RUN = ('--epochs=1', '--warmup_epochs=1', '--latent_dim=4',
                  '--hidden_width=16', '--eval_k=2', '--eval_examples=20',
                  '--eval_batch_size=10', '--eval_chunk_size=2',
                  '--noverify_data')
_TINY = {
    'experiments.mnist': _MNIST_RUN,
    'experiments.polymnist': _POLYMNIST_RUN,
    'experiments.classifiers': ('--noverify_data',),
    'experiments.tables': _MNIST_RUN,
    'experiments.celeba': _CELEBA_RUN,
    'experiments.generate': ('--num=4',),
    'experiments.paper_report': ('--fig7_samples=2', '--label_samples=2',
                                 '--eq9_images=10', '--eq9_k=2',
                                 '--eq9_prior_samples=4', '--noverify_data'),
}
_MNIST_FIGURES = ('--embedding=pca', '--num_points=100', '--per_class=2',
                  '--num_samples=2')
_CELEBA_FIGURES = ('--num_samples=2', '--num_faces=1')
_POLYMNIST_FIGURES = ('--num_samples=2',)
_IMAGE = re.compile(r'\.(png|jpe?g)$', re.IGNORECASE)


def readme_commands() -> list[str]:
  """Each line of the README's ```sh blocks, without comments and blanks."""
  blocks = re.findall(r'^```sh\n(.*?)^```', README.read_text(),
                      re.MULTILINE | re.DOTALL)
  lines = [line.split(' #')[0].strip() for block in blocks
           for line in block.splitlines()]
  return [line for line in lines if line and not line.startswith('#')]


def _kind(words: list[str]) -> str:
  if words[:2] == ['python', '-m']:
    return 'python'
  if (words[0] in ('make', 'tensorboard')
      or words == ['.', '.venv/bin/activate']):
    return words[0]
  return 'unknown'


def _flag(words: list[str], name: str) -> str | None:
  values = [w.split('=', 1)[1] for w in words if w.startswith(f'--{name}=')]
  return values[-1] if values else None


def _make_targets() -> set[str]:
  text = (pathlib.Path(ROOT) / 'Makefile').read_text()
  return set(re.findall(r'^([\w.-]+):', text, re.MULTILINE))


def test_readme_library_examples_run():
  text = (pathlib.Path(ROOT) / 'README.md').read_text()
  section = text.split('## Using the library', 1)[1].split('\n## ', 1)[0]
  blocks = re.findall(r'```python\n(.*?)```', section, re.DOTALL)
  assert len(blocks) >= 2
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng()
  namespace = {
      'x': (rng.random((4, 784)) < 0.5).astype(np.float32),
      'w': np.asarray(jax.nn.one_hot(rng.integers(0, 10, 4), 10)),
  }
  for block in blocks:
    exec(block, namespace)  # pylint: disable=exec-used
  for name in ('loss', 'log_px_given_w', 'log_p'):
    value = np.asarray(namespace[name])
    assert np.all(np.isfinite(value)), name
  assert np.asarray(namespace['log_p']).shape == (4,)


def test_every_readme_command_is_checkable_and_names_only_shipped_files():
  commands = readme_commands()
  assert len(commands) > 10
  for command in commands:
    words = shlex.split(command)
    kind = _kind(words)
    assert kind != 'unknown', (
        f'README command {command!r}: teach tests/test_readme.py to check it')
    if kind == 'python':
      assert importlib.util.find_spec(words[2]) is not None, command
    if kind == 'make':
      assert set(words[1:]) <= _make_targets(), command
    for word in words:
      value = word.split('=', 1)[-1]
      for path in value.split(','):
        if _IMAGE.search(path) or path.startswith('results/'):
          assert (pathlib.Path(ROOT) / path).exists(), (
              f'README command {command!r} names {path}, which the '
              'repository lacks')


def _write_mnist_fixture(data_dir: pathlib.Path) -> None:
  """Synthetic digits as the classic mnist.pkl.gz (train, valid, test)."""
  data = labelled_blobs(num_train=400, num_test=100)
  data_dir.mkdir()
  train = (data.train_images, data.train_labels)
  test = (data.test_images, data.test_labels)
  with gzip.open(data_dir / 'mnist.pkl.gz', 'wb') as f:
    pickle.dump((train, test, test), f)


def _figures_flags(cwd: pathlib.Path, words: list[str]) -> tuple[str, ...]:
  """The tiny settings of `experiments.figures` for the kind of run it draws."""
  workdir = _flag(words, 'workdir')
  config = cwd / workdir / 'config.json' if workdir else None
  kind = tasks.kind_of(json.loads(config.read_text())) if config else 'MNIST'
  return {'CelebA': _CELEBA_FIGURES, 'PolyMNIST': _POLYMNIST_FIGURES}.get(
      kind, _MNIST_FIGURES)


def _check_tensorboard(cwd: pathlib.Path, words: list[str]) -> None:
  """What ``tensorboard --logdir=DIR`` would show: each run's curves, bounds."""
  multiplexer = event_multiplexer.EventMultiplexer()
  multiplexer.AddRunsFromDirectory(str(cwd / _flag(words, 'logdir')))
  multiplexer.Reload()
  runs = multiplexer.Runs()
  for run in ('mnist', 'vae', 'celeba'):
    assert 'train/loss' in runs[run]['scalars'], (run, sorted(runs))
    assert any(tag.startswith('test/') for tag in runs[run]['scalars']), run
  assert runs['mnist']['images'], 'figures/ images of runs/mnist'


@pytest.mark.slow
def test_readme_commands_run_in_order_on_a_fresh_directory(tmp_path):
  mnist_dir = tmp_path / 'mnist_data'
  _write_mnist_fixture(mnist_dir)
  make_celeba_fixture(tmp_path / 'celeba_data')
  cwd = tmp_path / 'clone'
  cwd.mkdir()
  # A fresh clone has the committed results (their released models) but no
  # runs/; the commands read results/ and write elsewhere.
  (cwd / 'results').symlink_to(pathlib.Path(ROOT) / 'results')
  # Programs of equal shapes (most runs here) compile once, not per process.
  env = dict(os.environ, PYTHONPATH=ROOT,
             JAX_COMPILATION_CACHE_DIR=str(tmp_path / 'jax_cache'),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0')
  for command in readme_commands():
    words = shlex.split(command.replace(CELEBA_PLACEHOLDER,
                                        str(tmp_path / 'celeba_data')))
    kind = _kind(words)
    if kind in ('.', 'make'):
      assert kind == '.' or set(words[1:]) <= _make_targets(), command
      continue
    if kind == 'tensorboard':
      _check_tensorboard(cwd, words)
      continue
    module = words[2]
    extra = list(_TINY.get(module, ()))
    if module in ('experiments.mnist', 'experiments.tables',
                  'experiments.paper_report', 'experiments.polymnist',
                  'experiments.classifiers'):
      extra.append(f'--data_dir={mnist_dir}')
    if module == 'experiments.tables' and not _flag(words, 'rows'):
      extra.append('--rows=vae')  # One row, not seven.
    if module == 'experiments.figures':
      extra += _figures_flags(cwd, words)
    result = subprocess.run([sys.executable, *words[1:], *extra], cwd=cwd,
                            env=env, capture_output=True, text=True,
                            timeout=900)
    if '--helpfull' in words:  # absl prints the help and exits with 1.
      assert '--workdir' in result.stdout, command
      continue
    assert result.returncode == 0, (command, result.stderr[-3000:])
  for run in ('mnist', 'zero', 'vae', 'cvae', 'kl001', 'celeba'):
    assert (cwd / 'runs' / run / 'report.md').is_file(), run
  assert (cwd / 'sevens' / 'grid.png').is_file()
  assert (cwd / 'sevens_paper' / 'grid.png').is_file()
  assert (cwd / 'faces' / 'grid.png').is_file()
  report = cwd / 'runs' / 'tables' / 'report'
  assert (report / 'fig7_generation.png').is_file()
  assert (report / 'models' / 'vae_seed0' / 'params.npz').is_file()
