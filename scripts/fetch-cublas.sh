#!/usr/bin/env bash
# Unpacks cuBLAS (headers and libcublas) from the `nvidia-cublas` Python wheel into .cuda-deps,
# for machines that have nvcc but no cuBLAS (our CI). The build links against libcublas only, so by
# default the 540 MB libcublasLt, which libcublas loads at run time, is left out; with --runtime
# (a GPU machine without the toolkit's cuBLAS) it is unpacked too. The backend built with CUDA 13
# needs an NVIDIA driver of series 580 or newer.
#   scripts/fetch-cublas.sh [--runtime]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cuda-deps
runtime=0
[ "${1:-}" = "--runtime" ] && runtime=1
if [ -f "$dest/nvidia/cu13/include/cublas_v2.h" ] && { [ $runtime = 0 ] || ls "$dest"/nvidia/cu1*/lib/libcublasLt.so.* >/dev/null 2>&1; }; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps -d "$tmp" nvidia-cublas
mkdir -p "$dest"
python3 - "$tmp" "$dest" "$runtime" <<'PY'
import glob, re, sys, zipfile
src, dest, runtime = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
wheel = glob.glob(src + "/nvidia_cublas-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if "/include/" in name or re.search(r"/libcublas\.so\.1[23]$", name) or (runtime and re.search(r"/libcublasLt\.so\.1[23]$", name)):
            z.extract(name, dest)
PY
echo "cuBLAS unpacked into $dest"
