#!/usr/bin/env python3
"""SGEMM GFLOP/s of numpy and PyTorch (both on OpenBLAS here) at the shapes tools/bench/native-sgemm.ts uses.

Run by that bench (same shapes, same run); prints one JSON object per line:
  {"impl": "numpy"|"torch", "M":…, "N":…, "K":…, "tA":…, "tB":…, "gflops":…}
Set OPENBLAS_NUM_THREADS=2 (the bench does) — torch uses 1 intra-op thread over the 2-thread OpenBLAS,
the fastest setting on this 2-core machine.
"""
import json
import sys
import time

import numpy as np

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # numpy alone still gives the OpenBLAS baseline
    torch = None


def best_time(f, reps):
    f()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    shapes = json.loads(sys.argv[1])
    rng = np.random.default_rng(0)
    for s in shapes:
        M, N, K, tA, tB = s["M"], s["N"], s["K"], s["tA"], s["tB"]
        a = rng.standard_normal((K, M) if tA else (M, K), dtype=np.float32)
        b = rng.standard_normal((N, K) if tB else (K, N), dtype=np.float32)
        flops = 2.0 * M * N * K
        reps = max(2, min(20, int(2e10 / flops)))
        ea = a.T if tA else a
        eb = b.T if tB else b
        t = best_time(lambda: ea @ eb, reps)
        print(json.dumps({"impl": "numpy", **s, "gflops": flops / t / 1e9}), flush=True)
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            xa = ta.t() if tA else ta
            xb = tb.t() if tB else tb
            t = best_time(lambda: torch.matmul(xa, xb), reps)
            print(json.dumps({"impl": "torch", **s, "gflops": flops / t / 1e9}), flush=True)


if __name__ == "__main__":
    main()
