"""azstream's Python integrate1d beside pyFAI's integrate1d_ng on the same frame and the
same options: frames/s of each, one Python thread, the integrator built beforehand.

usage: PYTHONPATH=build/python .venv/bin/python bench/python_vs_pyfai.py [SECONDS]
The real Eiger 4M frame of tests/data (uint32, 2167 x 2070), 1000 bins of q_nm^-1, split
bbox (pyFAI's ("bbox", "csr", "cython")), without and with the Poisson error model; for
azstream also the compressed chunk and integrate_many on every core. Not a test."""
import logging
import os
import sys
import time

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pyFAI

import azstream

logging.getLogger("pyFAI").setLevel(logging.ERROR)
here = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(here, "../tests/data/real")
PONI = os.path.join(DATA, "poni/maxiv_azint_bench_Eiger4M.poni")
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
with h5py.File(os.path.join(DATA, "eiger4m_real_frame_bslz4.h5"), "r") as f:
    d = f["entry/data/data"]
    frame = d[0]
    chunk = bytes(d.id.read_direct_chunk((0, 0, 0))[1])


def rate(fn):
    fn()  # build / warm up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SECONDS:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


az = azstream.load(PONI)
py = pyFAI.load(PONI)
method = ("bbox", "csr", "cython")
print(f"{os.cpu_count()} CPUs; azstream {azstream.version()}, pyFAI {pyFAI.version}; "
      f"frame {frame.shape} {frame.dtype}, 1000 bins q_nm^-1, {method}")
for em in (None, "poisson"):
    kw = dict(unit="q_nm^-1", method=method, error_model=em)
    r_py = rate(lambda: py.integrate1d_ng(frame, 1000, **kw))
    r_az = rate(lambda: az.integrate1d(frame, 1000, **kw))
    r_ch = rate(lambda: az.integrate1d(chunk, 1000, shape=frame.shape, dtype=frame.dtype, **kw))
    it = az.integrator(1000, shape=frame.shape, dtype=frame.dtype, **kw)
    batch = [chunk] * 16
    r_many = 16 * rate(lambda: it.integrate_many(batch, codec=azstream._azstream.CODEC_BSLZ4))
    print(f"error_model={em}: pyFAI integrate1d_ng {r_py:.1f} frames/s; azstream integrate1d "
          f"{r_az:.1f} (x{r_az / r_py:.1f}), from the chunk {r_ch:.1f} (x{r_ch / r_py:.1f}, decoding "
          f"included), integrate_many on {os.cpu_count()} threads {r_many:.1f} (x{r_many / r_py:.1f})")
