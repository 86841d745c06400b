"""Times numpy (OpenBLAS) gemm for the shapes rfho's kernel benchmark asks for.

Reads JSON lines {"m","n","k","dtype","reps"} on stdin and answers one JSON line each with the
median seconds, so one long-lived process serves the interleaved A/B runs.
"""
import json
import sys
import time

import numpy as np

for line in sys.stdin:
    req = json.loads(line)
    dt = np.float32 if req["dtype"] == "float32" else np.float64
    rng = np.random.default_rng(0)
    a = rng.standard_normal((req["m"], req["k"])).astype(dt)
    b = rng.standard_normal((req["k"], req["n"])).astype(dt)
    # Let the other process's idle BLAS threads stop spinning before timing.
    time.sleep(0.5)
    c = a @ b  # warm-up
    times = []
    for _ in range(req["reps"]):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"median_s": times[len(times) // 2]}), flush=True)
