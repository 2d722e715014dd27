"""Do Python threads scale with azstream? The same frames integrated by one thread, then
shared by two (the GIL is released while decoding and integrating). Prints the time of
each and the ratio two threads / one (1.0: no gain; 0.5: perfect on two cores).

usage: PYTHONPATH=build/python .venv/bin/python bench/python_threads.py [FRAMES] [THREADS]
The real Eiger 4M frame of tests/data, 1000 bins of q_nm^-1, pyFAI's defaults; the
decoded frame and its bitshuffle-LZ4 chunk. Not a test: numbers depend on the machine."""
import os
import sys
import threading
import time

import h5py
import hdf5plugin  # noqa: F401
import numpy as np

import azstream

here = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(here, "../tests/data/real")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 60
T = int(sys.argv[2]) if len(sys.argv) > 2 else 2

with h5py.File(os.path.join(DATA, "eiger4m_real_frame_bslz4.h5"), "r") as f:
    d = f["entry/data/data"]
    frame = d[0]
    chunk = bytes(d.id.read_direct_chunk((0, 0, 0))[1])
ai = azstream.load(os.path.join(DATA, "poni/maxiv_azint_bench_Eiger4M.poni"))


def run(threads, data, kw):
    def work(n):
        for _ in range(n):
            ai.integrate1d(data, 1000, **kw)
    share = [N // threads + (k < N % threads) for k in range(threads)]
    ts = [threading.Thread(target=work, args=(n,)) for n in share]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


print(f"{os.cpu_count()} CPUs, {N} frames, azstream {azstream.version()}")
for label, data, kw in (("frame (uint32 array)", frame, {}),
                        ("chunk (bitshuffle-LZ4 bytes)", chunk, {"shape": frame.shape, "dtype": frame.dtype}),
                        ("frame, error_model=poisson", frame, {"error_model": "poisson"})):
    run(1, data, kw)  # builds the integrator, warms the caches
    best = {}
    for threads in (1, T):
        best[threads] = min(run(threads, data, kw) for _ in range(3))
    print(f"{label:32s} 1 thread {best[1]:.3f} s ({N / best[1]:.1f} frames/s), "
          f"{T} threads {best[T]:.3f} s ({N / best[T]:.1f} frames/s): "
          f"{100 * best[T] / best[1]:.0f} % of one thread's time")
