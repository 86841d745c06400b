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


def timed(fn, reps):
    """Runs fn once to warm up (compilation), then reps times; returns (median seconds, last result)."""
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
