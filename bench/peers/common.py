"""Shared helpers for the peer benchmarks: reading the problem files rfho writes, timing, memory."""
import json
import os
import resource
import sys
import time

import numpy as np


def load_problem(folder):
    """Arrays written by rfho's bench (raw little-endian binaries described by meta.json)."""
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    arrays = {}
    for name, spec in meta["arrays"].items():
        arrays[name] = np.fromfile(os.path.join(folder, name + ".bin"), dtype=spec["dtype"]).reshape(spec["shape"])
    return meta, arrays


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


WARM_UP_S = 2.0  # bench/case.ts WARM_UP_S: the same


def timed(fn, reps):
    """Runs fn for at least WARM_UP_S seconds (at least once: the first run is the compilation) to
    warm up, as rfho's cases do, then reps times; returns (median seconds, last result)."""
    warm = time.perf_counter() + WARM_UP_S
    out = fn()
    while time.perf_counter() < warm:
        out = fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], out


def emit(result):
    print("PEER " + json.dumps(result), flush=True)


def args():
    return json.loads(sys.argv[1])
