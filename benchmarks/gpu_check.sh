#!/usr/bin/env bash
# The GPU checks in one short script, for a lent GPU machine (nothing in the project depends on one):
# the CUDA-against-CPU tests and the scaling benchmark (n = 10^4 .. 10^6, 3 x 512, k = 256). Results go to $OUT (or ./gpu_out).
#     bash benchmarks/gpu_check.sh
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
nvidia-smi -L | tee "$OUT/gpu.txt"
python3 -c "import torch, sklearn, numpy; print('torch', torch.__version__, 'sklearn', sklearn.__version__, 'numpy', numpy.__version__)" | tee -a "$OUT/gpu.txt"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$OUT/test_cuda.txt"
timeout 300 python3 benchmarks/bench_scaling.py --device cuda --json "$OUT/scaling.json" 2>&1 | tee "$OUT/scaling.txt"
