#!/usr/bin/env bash
# The prepared script for a lent GPU machine (the `device` tool). From the repository root, with
# these carried (they are git-ignored): dist, node_modules/node-addon-api,
# node_modules/node-api-headers, and bench/gpu/node.tar.xz when the machine has no Node (an
# official linux-x64 tarball). It builds the addon and the CUDA backend with plain cmake (no npm
# needed there), checks GPU against CPU, runs the GPU benchmarks, and writes everything to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/rfho-gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.csv"
if ! command -v node >/dev/null; then
  if [ -f bench/gpu/node.tar.xz ]; then
    mkdir -p /tmp/node && tar -xJf bench/gpu/node.tar.xz -C /tmp/node --strip-components=1
    export PATH=/tmp/node/bin:$PATH
  else
    echo "no node on this machine and no bench/gpu/node.tar.xz carried"; exit 2
  fi
fi
node --version
# cuBLAS: the CUDA toolkit's if it has one, else the `nvidia-cublas` Python package's (the lent
# machines have it; pip's wheel also holds libcublasLt, which libcublas loads at run time).
if [ -z "${RFHO_CUBLAS_ROOT:-}" ] && [ ! -f /usr/local/cuda/include/cublas_v2.h ]; then
  for py in python3 python; do
    base=$("$py" -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null) || continue
    header=$(find "$base" -name cublas_v2.h -path '*include*' 2>/dev/null | head -1)
    if [ -n "$header" ]; then export RFHO_CUBLAS_ROOT=$(dirname "$(dirname "$header")"); break; fi
  done
fi
if [ -n "${RFHO_CUBLAS_ROOT:-}" ]; then
  echo "cuBLAS from $RFHO_CUBLAS_ROOT"
  export LD_LIBRARY_PATH="$RFHO_CUBLAS_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# OpenBLAS if the machine has it; otherwise plain-loop CPU products (then the GPU/CPU ratio of the
# HC benchmark is not meaningful: the log says which BLAS was used).
cmake -S . -B build-gpu -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DRFHO_CUDA=ON \
  -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include" -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/build/Release" \
  || { echo "configure failed"; exit 3; }
cmake --build build-gpu -j "$(nproc)" || { echo "build failed"; exit 4; }
node dist/lib/cli/main.js devices | tee "$OUT/devices.json"
# Each step below writes its own file and its exit status; a failing step does not stop the others.
step() { local name=$1; shift; "$@" > "$OUT/$name.txt" 2>&1; echo "$name: exit $?" | tee -a "$OUT/steps.txt"; }
step xent-rows build/Release/rfho_xent_rows_test
step parity node dist/bench/gpu/parity.js
# every launch synchronised: a fault is reported against the op that caused it
RFHO_CUDA_SYNC=1 step parity-sync node dist/bench/gpu/parity.js
if command -v compute-sanitizer >/dev/null; then
  step memcheck compute-sanitizer --tool memcheck --error-exitcode 9 node dist/bench/gpu/parity.js
  step racecheck compute-sanitizer --tool racecheck --error-exitcode 9 node dist/bench/gpu/parity.js
else
  echo "compute-sanitizer: not on this machine" | tee -a "$OUT/steps.txt"
fi
step bench node dist/bench/gpu.js
cat "$OUT/steps.txt"
