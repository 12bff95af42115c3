"""Test-wide JAX settings (strict dtype promotion, rank-promotion errors, a
shared compilation cache) and shared fixtures."""

import atexit
import os
import shutil
import tempfile

import jax
import pytest

from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.mnist.config import Config

jax.config.update('jax_numpy_dtype_promotion', 'strict')
jax.config.update('jax_numpy_rank_promotion', 'raise')

# Many tests run the binaries, each process compiling the same small programs
# again (and CelebA's conv nets take minutes to compile on a CPU). One
# persistent compilation cache for the session, in a fresh directory removed
# at exit, lets later tests and processes load what an earlier one compiled.
# The environment carries it to the binaries' subprocesses.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  _CACHE = tempfile.mkdtemp(prefix='jmvae_jax_test_xla_cache_')
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
  os.environ.update(JAX_COMPILATION_CACHE_DIR=_CACHE,
                    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
                    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0')
  jax.config.update('jax_compilation_cache_dir', _CACHE)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)


@pytest.fixture(scope='session')
def local_mnist() -> mnist.LabelledImages:
  """Real MNIST already in ``Config.data_dir`` (never downloaded); the test
  is skipped where there is none."""
  try:
    return mnist.load_mnist(os.path.expanduser(Config.data_dir),
                            sources=('local',))
  except UserError as error:
    pytest.skip(f'real MNIST is not available here: {error}')
