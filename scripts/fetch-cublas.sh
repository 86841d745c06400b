#!/usr/bin/env bash
# Unpacks cuBLAS (headers and libcublas) from the `nvidia-cublas` Python wheel into .cuda-deps,
# for machines that have nvcc but no cuBLAS (our CI). Skips the 540 MB cublasLt library: the build
# only links against libcublas; running on a GPU needs the full cuBLAS there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cuda-deps
if [ -f "$dest/nvidia/cu13/include/cublas_v2.h" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps -d "$tmp" nvidia-cublas
mkdir -p "$dest"
python3 - "$tmp" "$dest" <<'PY'
import glob, sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(src + "/nvidia_cublas-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if "/include/" in name or name.endswith("/libcublas.so.13") or name.endswith("/libcublas.so.12"):
            z.extract(name, dest)
PY
echo "cuBLAS unpacked into $dest"
