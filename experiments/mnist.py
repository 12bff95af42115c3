r"""Train and evaluate JMVAE-kl, JMVAE-zero or a VAE on MNIST (paper, Sec. 4.2).

Examples:
  python -m experiments.mnist --alpha=0.1                 # short run (10 epochs)
  python -m experiments.mnist --model=jmvae_zero --workdir=runs/zero
  python -m experiments.mnist --paper --alpha=0.01        # 500 epochs, warm-up 200

Re-running a command with the same --workdir resumes it from its last checkpoint.

Training is data-parallel over every visible device. To spread one run over
several processes (hosts), start the same command in each, adding
  --coordinator_address=HOST0:PORT --num_processes=P --process_id=I
(I = 0 .. P-1; JAX_COORDINATOR_ADDRESS may stand in for the first flag), or only
--distributed where JAX detects the cluster itself (Cloud TPU, SLURM, Open MPI).
The workdir must be on a file system every process sees.
"""

from __future__ import annotations

import dataclasses
import json

from absl import app, flags, logging

from jmvae_jax import config as config_lib
from jmvae_jax import experiment, models, parallel
from jmvae_jax.errors import UserError

_DEFAULTS = config_lib.Config()

_MODEL = flags.DEFINE_string(
    'model', _DEFAULTS.model, f'One of {", ".join(models.MODEL_NAMES)}.')
_ALPHA = flags.DEFINE_float(
    'alpha', _DEFAULTS.alpha, 'Weight of the unimodal KL terms (Eq. 4).')
_EPOCHS = flags.DEFINE_integer('epochs', _DEFAULTS.epochs, 'Training epochs.')
_WARMUP = flags.DEFINE_integer(
    'warmup_epochs', _DEFAULTS.warmup_epochs,
    'Epochs over which the KL weight rises linearly to 1.')
_ANNEAL_ALPHA = flags.DEFINE_bool(
    'anneal_alpha', _DEFAULTS.anneal_alpha,
    'Also warm up the alpha terms (MultiVae); default: only KL to the prior.')
_PAPER = flags.DEFINE_bool(
    'paper', False,
    f'The paper\'s schedule: {config_lib.PAPER_EPOCHS} epochs, warm-up '
    f'{config_lib.PAPER_WARMUP_EPOCHS} (overrides --epochs/--warmup_epochs).')
_BATCH = flags.DEFINE_integer(
    'batch_size', _DEFAULTS.batch_size,
    'Training batch size (a multiple of the device count).')
_LR = flags.DEFINE_float('learning_rate', _DEFAULTS.learning_rate,
                         'Adam learning rate.')
_SEED = flags.DEFINE_integer('seed', _DEFAULTS.seed, 'Root random seed.')
_EVAL_K = flags.DEFINE_integer(
    'eval_k', _DEFAULTS.eval_k, 'Importance samples per test example.')
_EVAL_PRIOR = flags.DEFINE_integer(
    'eval_prior_samples', _DEFAULTS.eval_prior_samples,
    'Prior samples for log p(w) in the multiple conditional bound.')
_EVAL_BATCH = flags.DEFINE_integer(
    'eval_batch_size', _DEFAULTS.eval_batch_size,
    'Test examples per evaluation batch (a multiple of the device count).')
_WORKDIR = flags.DEFINE_string(
    'workdir', 'runs/mnist', 'Run directory: config, checkpoints, results.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', _DEFAULTS.data_dir, 'Where MNIST is looked for and cached.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None,
    'Multi-process runs: HOST:PORT of process 0, the same in every process.')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'Multi-process runs: how many processes take part.')
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', None, 'Multi-process runs: this process\'s rank, 0 .. P-1.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False,
    'Join a multi-process run whose settings JAX detects (Cloud TPU, SLURM, '
    'Open MPI).')


def main(argv):
  if not flags.FLAGS['verbosity'].present:
    # Orbax logs every save at INFO: show warnings only unless asked.
    logging.set_verbosity(logging.WARNING)
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  epochs, warmup = _EPOCHS.value, _WARMUP.value
  if _PAPER.value:
    epochs, warmup = config_lib.PAPER_EPOCHS, config_lib.PAPER_WARMUP_EPOCHS
  try:
    # Before anything touches the devices.
    parallel.maybe_initialize_distributed(
        _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
        auto_detect=_DISTRIBUTED.value)
    config = dataclasses.replace(
        _DEFAULTS, model=_MODEL.value, alpha=_ALPHA.value, epochs=epochs,
        warmup_epochs=warmup, anneal_alpha=_ANNEAL_ALPHA.value,
        batch_size=_BATCH.value, learning_rate=_LR.value, seed=_SEED.value,
        eval_k=_EVAL_K.value, eval_prior_samples=_EVAL_PRIOR.value,
        eval_batch_size=_EVAL_BATCH.value,
        data_dir=_DATA_DIR.value)
    results = experiment.train_and_evaluate(config, _WORKDIR.value)
  except UserError as error:
    raise SystemExit(f'error: {error}') from None
  print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == '__main__':
  app.run(main)
