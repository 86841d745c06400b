#!/usr/bin/env bash
# The prepared script for a lent GPU machine (the `device` tool): build with the CUDA backend, run
# the backend tests on the GPU, run the GPU benchmarks, and write everything to $OUT.
#   run from the repository root; carry node_modules (and bench/gpu/node.tar.xz when the machine
#   has no Node: a `node-vXX-linux-x64.tar.xz` from the registry's `node` package works).
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
export RFHO_CUDA=ON
node scripts/build-native.js || { echo "native build failed"; exit 3; }
npx tsc -p . || exit 4
node dist/lib/cli/main.js devices | tee "$OUT/devices.json"
npx mocha dist/test/60-backends.test.js dist/test/02-kernels.test.js 2>&1 | tee "$OUT/tests.txt"
node dist/bench/gpu.js 2>&1 | tee "$OUT/bench.txt"
