"""A grid of MNIST models trained as one compiled program.

Members share the architecture and every setting but ``elbo.MEMBER_SETTINGS``
(alpha, warm-up, learning rate) and the seed. Their train states are stacked on
a leading member axis and one jitted epoch runs ``jax.vmap`` of the single-run
epoch (``train.epoch_function``) over it: each member draws its own data order,
binarization and samples from its own seed exactly as its separate run would,
and the members' products become batched matrix products, which fill a device
better than one thin batch-100 model (on an accelerator, M models cost about
one launch sequence instead of M).

Data parallelism is unchanged: the stacked state is replicated over the mesh
and every member's batch is split over the devices. The grid axis is not
sharded: a grid is small (a few models of 3M parameters), and replicating it
keeps a member's arithmetic the same on any device count.

A grid's own directory holds its stacked checkpoints; each member's
metrics.jsonl, config.json, TensorBoard curves (written as each epoch ends)
and, at the end, a checkpoint of its own state live in the member's ordinary
run directory, where ``experiment.train_and_evaluate`` finds the trained state
and only evaluates, writing the results, test scalars and report.md as for
any run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from jmvae_jax import models
from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError
from jmvae_jax.report import summaries
from jmvae_jax.tasks.mnist import evaluation
from jmvae_jax.tasks.mnist import train
from jmvae_jax.tasks.mnist.config import RESUME_FIELDS, Config
from jmvae_jax.training import elbo, parallel, run_loop
from jmvae_jax.training.checkpoints import Checkpoints
from jmvae_jax.training.workdir import (METRICS_FILE, check_training_data,
                                        locked, make_writable_dir,
                                        prepare_workdir, write_json_atomically)

# Settings a grid's members may differ in; all others must be equal.
VARYING = ('seed',) + elbo.MEMBER_SETTINGS


def check_members(configs: Sequence[Config]) -> None:
  """UserError unless the configs differ only in VARYING (and are >= 1)."""
  if not configs:
    raise UserError('a grid needs at least one member')
  first = dataclasses.asdict(configs[0])
  for config in configs[1:]:
    other = dataclasses.asdict(config)
    differing = [name for name in first
                 if name not in VARYING and first[name] != other[name]]
    if differing:
      raise UserError(
          f'grid members may differ only in {", ".join(VARYING)}; they differ '
          f'in {", ".join(differing)}: train those as separate grids')


def stack(trees: Sequence[Any]) -> Any:
  """Stacks equally shaped pytrees on a new leading axis."""
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def unstack(tree: Any, index: int) -> Any:
  """Member ``index`` of a stacked pytree."""
  return jax.tree.map(lambda leaf: leaf[index], tree)


def init_grid_state(model: Any, configs: Sequence[Config]) -> train.TrainState:
  """The members' fresh states (each exactly its separate run's), stacked."""
  return stack([elbo.init_state(model, config) for config in configs])


def make_grid_train_epoch(
    model: Any, configs: Sequence[Config], mesh: jax.sharding.Mesh
) -> Callable[[train.TrainState, jax.Array, jax.Array],
              tuple[train.TrainState, dict[str, jax.Array]]]:
  """A jitted epoch of every member: (stacked state, images, labels) ->
  (stacked state, metrics [M] each).

  See ``train.make_train_epoch`` for one member; the members' settings enter
  as traced [M] arrays, so one compiled program serves any values.
  """
  check_members(configs)
  epoch = train.epoch_function(model, configs[0], mesh)
  settings = {name: jnp.asarray([getattr(c, name) for c in configs],
                                jnp.float32 if name != 'warmup_epochs'
                                else jnp.int32)
              for name in elbo.MEMBER_SETTINGS}
  vmapped = jax.vmap(epoch, in_axes=(0, None, None, 0))
  return jax.jit(lambda state, images, labels: vmapped(state, images, labels,
                                                       settings),
                 donate_argnums=0, out_shardings=parallel.replicated(mesh))


def train_grid(configs: Sequence[Config], member_dirs: Sequence[str],
               grid_dir: str, *, data: mnist.LabelledImages | None = None,
               log: Callable[[str], None] = print) -> None:
  """Trains every member to its config's epochs as one program (resumable).

  Each member's directory gets its config.json, data.json, metrics.jsonl and
  live TensorBoard curves as a separate run would write them (their img/s,
  as in metrics.jsonl, is one member's images over the grid's epoch time),
  and at the end a checkpoint of its own final state, so that
  ``experiment.train_and_evaluate(config, member_dir)`` only evaluates it
  (and writes its results, test scalars and report.md). The grid's stacked
  checkpoints live in ``grid_dir``.

  Raises:
    UserError: members that may not share a grid, a locked or mismatched
      directory, a diverged member, or bad data.
  """
  check_members(configs)
  if len(member_dirs) != len(configs):
    raise UserError('give one member directory per config')
  grid_dir = os.path.abspath(os.path.expanduser(grid_dir))
  make_writable_dir(grid_dir)
  with locked(grid_dir):
    _train_grid(list(configs), [os.path.abspath(d) for d in member_dirs],
                grid_dir, data, log)


def _train_grid(configs: list[Config], member_dirs: list[str], grid_dir: str,
                data: mnist.LabelledImages | None,
                log: Callable[[str], None]) -> None:
  members_path = os.path.join(grid_dir, 'members.json')
  members = [{'workdir': d, **{name: getattr(c, name) for name in VARYING}}
             for c, d in zip(configs, member_dirs)]
  if os.path.exists(members_path):
    with open(members_path) as f:
      if json.load(f) != members:
        raise UserError(f'{grid_dir} holds a grid of other members; use the '
                        'same rows and seeds, or a new grid directory')
  config = configs[0]
  prepare_workdir(config, grid_dir, resume_fields=tuple(
      name for name in RESUME_FIELDS if name not in VARYING))
  write_json_atomically(members_path, json.dumps(members, indent=2))
  for member, directory in zip(configs, member_dirs):
    prepare_workdir(member, directory, resume_fields=RESUME_FIELDS)
  mesh = parallel.make_data_mesh()
  parallel.check_divisible('batch_size', config.batch_size, mesh)
  if data is None:
    data = mnist.load_mnist(os.path.expanduser(config.data_dir),
                            num_train=config.train_examples,
                            verify=config.verify_data,
                            pixel_scale=config.pixel_scale)
  for directory in [grid_dir] + member_dirs:
    check_training_data(directory, data.train_images, data.train_labels,
                        data.source)
  names = [os.path.relpath(d, os.path.dirname(grid_dir)) for d in member_dirs]
  log(f'grid of {len(configs)}: {", ".join(names)}; {data.source}')

  model = config.build_model()
  state = jax.jit(functools.partial(init_grid_state, model, configs),
                  out_shardings=parallel.replicated(mesh))()
  checkpoints = Checkpoints(os.path.join(grid_dir, 'checkpoints'), log=log,
                            legacy_names=models.LEGACY_PARAM_NAMES)
  restored = checkpoints.restore_latest(state)
  if restored is not None:
    state = restored
    log(f'resuming the grid from the checkpoint after epoch '
        f'{run_loop.epoch_of(state)}')
  train_epoch = make_grid_train_epoch(model, configs, mesh)
  images, labels = parallel.replicate(
      (data.train_images, data.train_labels), mesh)
  test_images = mnist.binarize_once(data.test_images)

  def learning_curves(state, epoch):
    return [evaluation.learning_curve(
        config.build_model(training=False), unstack(state.params, i),
        test_images, data.test_labels, config=member, mesh=mesh,
        run_key=unstack(state.key, i), epoch=epoch)
            for i, member in enumerate(configs)]

  main_process = jax.process_index() == 0
  scalars = [summaries.resume_scalars(d, run_loop.epoch_of(state),
                                      enabled=main_process)
             for d in member_dirs]

  def add_epoch(records: list[dict[str, Any]]) -> None:
    for writer, record in zip(scalars, records):
      writer.add_epochs([record])

  try:
    state = run_loop.train_epochs(
        state, epochs=config.epochs,
        train_epoch=lambda s: train_epoch(s, images, labels),
        checkpoints=checkpoints,
        metrics_path=[os.path.join(d, METRICS_FILE) for d in member_dirs],
        images_per_epoch=(len(data.train_labels) // config.batch_size
                          * config.batch_size),
        main_process=main_process,
        logged_prefixes=('recon', 'kl_prior', 'curve_marginal', 'curve_joint'),
        checkpoint_every=config.checkpoint_every,
        after_epoch=learning_curves, member_names=names, on_epoch=add_epoch,
        log=log)
  finally:
    checkpoints.close()
    for writer in scalars:
      writer.close()
  for i, directory in enumerate(member_dirs):
    member_checkpoints = Checkpoints(os.path.join(directory, 'checkpoints'),
                                     log=log)
    if member_checkpoints.latest_epoch() != config.epochs:
      member_checkpoints.save(unstack(state, i))
    member_checkpoints.close()
