#!/bin/bash
# One accelerator session for the grid issue (13), as one prepared command:
#   1. the machine: nvidia-smi and the JAX, Flax and Optax versions;
#   2. benchmarks.grid_throughput: images/s per model of 1-, 3- and 9-model
#      JMVAE-kl grids, float32 and bfloat16 products, and the projected hours
#      of one seed of the paper grid;
#   3. the paper-budget grid of ROWS x SEEDS (default: JMVAE-kl alphas 0.01,
#      0.1, 1 x seeds 0-2), one program per model type, saved every
#      CHECKPOINT_EVERY epochs, for at most TRAIN_SECONDS, with the chip's
#      utilisation sampled every 2 s: its log gives the training time and the
#      ETA (wall time) per epoch, and if it finishes, the tables.
# float32 products run at full float32 precision (no TF32), as on the CPU.
#
#   OUT=/tmp/out DATA=~/.cache/jmvae_jax/mnist.pkl.gz TRAIN_SECONDS=240 \
#     bash benchmarks/accelerator_run.sh
#   QUICK=1 EXTRA="--epochs=1 --train_examples=1000 --eval_k=2" ... # a smoke run
#   BENCH=0 SEEDS=1,2 TRAIN_SECONDS=540 ...  # no benchmark: seeds 1, 2 of Table 1
set -u
OUT=${OUT:-/tmp/accelerator_out}
PY=${PYTHON:-python3}
mkdir -p "$OUT" ~/.cache/jmvae_jax
if [ -n "${DATA:-}" ] && [ ! -e ~/.cache/jmvae_jax/mnist.pkl.gz ]; then
  cp "$DATA" ~/.cache/jmvae_jax/mnist.pkl.gz
fi
export PYTHONUNBUFFERED=1 JAX_DEFAULT_MATMUL_PRECISION=highest
{ nvidia-smi 2>&1 | head -15
  $PY -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__); print(jax.devices())"
} > "$OUT/env.txt" 2>&1
if [ "${BENCH:-1}" != 0 ]; then
  start=$(date +%s)
  $PY -m benchmarks.grid_throughput ${QUICK:+--quick} > "$OUT/grid_throughput.txt" 2>&1
  echo "grid_throughput: exit $? after $(( $(date +%s) - start )) s" >> "$OUT/grid_throughput.txt"
fi
if command -v nvidia-smi > /dev/null; then
  nvidia-smi dmon -s pu -d 2 > "$OUT/utilisation.txt" 2>&1 &
  dmon=$!
fi
start=$(date +%s)
timeout "${TRAIN_SECONDS:-240}" $PY -m experiments.tables --paper --as_grids \
  --seeds="${SEEDS:-0,1,2}" --rows="${ROWS:-jmvae_kl_0.01,jmvae_kl_0.1,jmvae_kl_1}" \
  --checkpoint_every="${CHECKPOINT_EVERY:-25}" \
  --root=/tmp/paper_grid --out_dir="$OUT/paper_grid" ${EXTRA:-} \
  > "$OUT/paper_grid_log.txt" 2>&1
echo "paper grid: exit $? after $(( $(date +%s) - start )) s" >> "$OUT/paper_grid_log.txt"
[ -n "${dmon:-}" ] && kill "$dmon"
# The device tool returns at most 8 files: the tables and each run's config,
# metrics and results travel as one archive.
tar -czf "$OUT/paper_grid.tgz" -C "$OUT" paper_grid -C /tmp \
  --exclude=checkpoints paper_grid && rm -r "$OUT/paper_grid"
ls -l "$OUT"
