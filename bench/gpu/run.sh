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
# OpenBLAS if the machine has it; otherwise plain-loop CPU products (then the GPU/CPU ratio of the
# HC benchmark is not meaningful: the log says which BLAS was used).
cmake -S . -B build-gpu -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DRFHO_CUDA=ON \
  -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include" -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/build/Release" \
  || { echo "configure failed"; exit 3; }
cmake --build build-gpu -j "$(nproc)" || { echo "build failed"; exit 4; }
node dist/lib/cli/main.js devices | tee "$OUT/devices.json"
node dist/bench/gpu/parity.js 2>&1 | tee "$OUT/parity.txt"
node dist/bench/gpu.js 2>&1 | tee "$OUT/bench.txt"
