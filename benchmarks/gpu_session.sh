#!/usr/bin/env bash
# One session on a GPU machine (about 9 minutes on an H100): install imrestore without
# network, run benchmarks/bench_gpu.py alone, then train the natural-image defaults
# named in $NAMES (benchmarks/train_defaults.py --gpu) side by side on the same GPU
# (then run benchmarks/bench_denoise.py / bench_sr.py here on the weights that come back).
# Everything lands in $OUT (default /tmp/imrestore-gpu): console.log, results.tar
# (bench JSON/MD and training logs) and the weight files.
#
#   bash benchmarks/gpu_session.sh                       # all three defaults, 4 minutes each
#   NAMES=n2n-unet-gaussian-grey MINUTES=8 bash benchmarks/gpu_session.sh   # the grey U-Net alone, 8 minutes
#   SKIP_BENCH=1 ...                                     # no bench_gpu.py (training only)
set -u
OUT=${OUT:-/tmp/imrestore-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
LOG="$OUT/console.log"
PY=${PYTHON:-python3}
{
  date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  $PY -m pip install -q --no-deps --no-build-isolation --no-index -e . || $PY -m pip install -q --no-deps --no-index --no-use-pep517 -e .
  $PY -c "import torch, imrestore; from imrestore.nn.data import skimage_images; print(torch.__version__, imrestore.__version__, list(skimage_images()))"
  $PY -m imrestore.cli plugins | head -40
} >"$LOG" 2>&1

if [ -z "${SKIP_BENCH:-}" ]; then
  echo "== bench_gpu $(date -u +%T)" >>"$LOG"
  timeout "${BENCH_TIMEOUT:-240}" $PY benchmarks/bench_gpu.py >>"$LOG" 2>&1
  echo "bench_gpu rc=$? $(date -u +%T)" >>"$LOG"
fi

names=${NAMES:-"n2n-unet-gaussian-grey n2n-unet-gaussian-rgb edsr-x2"}
for n in $names; do
  timeout "${TRAIN_TIMEOUT:-$(( ${MINUTES:-4} * 60 + 50 ))}" $PY benchmarks/train_defaults.py --gpu ${MINUTES:+--minutes $MINUTES} "$n" \
    >"benchmarks/results/training/$n.stdout.txt" 2>&1 &
done
wait
echo "training done $(date -u +%T)" >>"$LOG"
for n in $names; do
  tail -n 5 "benchmarks/results/training/$n.stdout.txt" >>"$LOG"
  cp "plugins/imrestore_builtins/weights/$n.safetensors" "$OUT/" 2>>"$LOG"
done
tar -cf "$OUT/results.tar" benchmarks/results/bench_gpu_gpu.* benchmarks/results/training/ 2>>"$LOG"
nvidia-smi --query-gpu=name,memory.used --format=csv >>"$LOG" 2>&1
