"""Single-thread integration engine, azstream vs pyFAI, on the real Eiger 4M frame.

Workload (doc/design.md, W1-like, one real frame repeated): MAX IV Eiger 4M PONI, 1000 bins in
q_nm^-1, solid angle + polarization 0.99 + detector gap mask + dummy 0xFFFFFFFF, splitting
bbox and full. azstream: azs_integrate_frame (one thread) and azs_integrate_frame_omp;
pyFAI: integrate1d_ng with method (split, "csr", "cython") and OMP_NUM_THREADS=1, matrix
built before timing. Not a test: run it by hand.

usage: OMP_NUM_THREADS=1 python bench/integrate_engine.py BUILD_DIR [NFRAMES]
"""
import os
import subprocess
import sys
import tempfile
import time

import h5py
import hdf5plugin  # noqa: F401
import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
import pyFAI  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "real")
PONI = os.path.join(DATA, "poni", "maxiv_azint_bench_Eiger4M.poni")
build = sys.argv[1] if len(sys.argv) > 1 else "build"
nframes = int(sys.argv[2]) if len(sys.argv) > 2 else 5
tool = os.path.join(build, "tests", "integrate", "integrate_bench")

with h5py.File(os.path.join(DATA, "eiger4m_real_frame_bslz4.h5"), "r") as f:
    frame = np.ascontiguousarray(f["/entry/data/data"][0])
raw = os.path.join(tempfile.mkdtemp(), "frame.raw")
frame.tofile(raw)
ai = pyFAI.load(PONI)
print("frame %s %s, %d frames timed, OMP_NUM_THREADS=%s" %
      (frame.shape, frame.dtype, nframes, os.environ["OMP_NUM_THREADS"]))
for split in ("bbox", "full"):
    env = dict(os.environ)
    out = subprocess.run([tool, PONI, raw, "u32", split, "1000", "0", str(nframes)],
                         capture_output=True, text=True, check=True, env=env).stdout
    ours = dict(line.split("=") for line in out.split())
    kw = dict(unit="q_nm^-1", method=(split, "csr", "cython"), polarization_factor=0.99,
              dummy=4294967295.0, correctSolidAngle=True)
    t0 = time.perf_counter()
    ai.integrate1d_ng(frame, 1000, **kw)  # builds the matrix
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(nframes):
        ai.integrate1d_ng(frame, 1000, **kw)
    pyfai_fps = nframes / (time.perf_counter() - t0)
    print("%-4s  azstream: build %6.2f s, matrix %6.1f MB (nnz %s), single-thread %7.2f frames/s, "
          "omp %7.2f frames/s | pyFAI: build %6.2f s, one thread %6.2f frames/s | ratio %.1fx" %
          (split, float(ours["build_s"]), int(ours["matrix_bytes"]) / 1e6, ours["nnz"],
           float(ours["serial_fps"]), float(ours["omp_fps"]), build_s, pyfai_fps,
           float(ours["serial_fps"]) / pyfai_fps))
