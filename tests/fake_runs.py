"""Workdirs as training leaves them, made without training (fast fixtures),
and the output of the binaries that read them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from jmvae_jax.training import elbo
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.training.checkpoints import Checkpoints
from tests.binaries import run_module


def fake_run(workdir: str, config: Config, *,
             curves: Mapping[str, Sequence[float]] | None = None,
             results: Mapping[str, float] | None = None) -> None:
  """Writes WORKDIR as after config.epochs epochs, without training.

  config.json; a checkpoint of freshly initialized parameters, perturbed by
  0.01 sin(index) so that biases are not all 0 and a misplaced array would
  show; metrics.jsonl with one record per epoch, holding 'curve_NAME' =
  curves[NAME][epoch - 1] for each given curve; and results.json with the
  model, the epoch and ``results``.
  """
  os.makedirs(workdir)
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write(config.to_json())
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    for epoch in range(1, config.epochs + 1):
      record = {'epoch': epoch, 'loss': 100.0 / epoch}
      for name, values in (curves or {}).items():
        record[f'curve_{name}'] = values[epoch - 1]
      f.write(json.dumps(record) + '\n')
  with open(os.path.join(workdir, 'results.json'), 'w') as f:
    json.dump({'model': config.model, 'alpha': config.alpha,
               'epoch': config.epochs, **(results or {})}, f)
  state = elbo.init_state(config.build_model(), config)
  state = state.replace(
      epoch=jnp.asarray(config.epochs, jnp.int32),
      params=jax.tree.map(
          lambda a: a + 0.01 * jnp.sin(
              jnp.arange(a.size, dtype=a.dtype)).reshape(a.shape),
          state.params))
  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'),
                            log=lambda _: None)
  checkpoints.save(state)
  checkpoints.close()


def generate_lines(workdir: str | os.PathLike, *flags: str) -> list[str]:
  """The stdout lines of ``python -m experiments.generate --workdir=WORKDIR
  FLAGS...``, which must succeed."""
  result = run_module('experiments.generate', f'--workdir={workdir}', *flags)
  assert result.returncode == 0, result.stderr
  return result.stdout.strip().splitlines()
