"""Layout procs with GPU workers (--inner gpu) gives the threads layout's profiles bit for
bit, with several frame ranges per worker: 300 frames cut into ranges of at least 64, so a
worker runs 4 or 5 ranges in a row on the engine it keeps between them
(azs_run_options.gpu_keep_engine: pinned buffers and matrix uploaded once per worker).
Exit 77 without a device.

usage: test_procs_gpu.py AZSTREAM WORKDIR"""
import os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli_integrate"))
try:
    import h5py  # noqa: F401
    import numpy as np  # noqa: F401
except ImportError:
    sys.exit(77)
from e2e import check, finish, fresh_workdir, read, same

az = os.path.abspath(sys.argv[1])
poni = os.path.join(here, "..", "data", "real", "poni", "ssrl_Pilatus300kw_LaB6.poni")
wd = fresh_workdir(sys.argv[2])
N = 300


def run(*a):
    p = subprocess.run([az] + list(map(str, a)), capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout + p.stderr


rc, log = run("synth", "-o", "w.h5", "--poni", poni, "--frames", N, "--seed", 5)
check(rc == 0, "synth: " + log[-300:])
common = ["w.h5", "--poni", poni, "--method", "full", "--error-model", "poisson", "--npt", 700, "--quiet",
          "--no-cache"]
rc, log = run("integrate", *common, "--layout", "threads", "-o", "threads.h5")
check(rc == 0, "threads: " + log[-300:])
ref_i, ref_s = read("threads.h5", "I"), read("threads.h5", "I_errors")
for workers, per_gpu in ((1, 1), (2, 2)):
    out = "procs-%d.h5" % workers
    rc, log = run("integrate", *common, "--layout", "procs", "--inner", "gpu", "--workers", workers,
                  "--per-gpu", per_gpu, "-o", out)
    if rc != 0 and ("no CUDA device" in log or "without CUDA" in log):
        print("gpu: no device, skipped")
        sys.exit(77)
    check(rc == 0, "procs --inner gpu --workers %d: %s" % (workers, log[-300:]))
    if rc == 0:
        check(same(read(out, "I"), ref_i), "procs gpu %d workers: intensity differs from threads" % workers)
        check(same(read(out, "I_errors"), ref_s), "procs gpu %d workers: sigma differs from threads" % workers)
# --per-gpu K without --gpus or --workers: K workers on the one device (once, the default
# was a worker per core); AZS_GPU_TRACE makes each worker report itself at its exit.
p = subprocess.run([az, "integrate", *map(str, common), "--layout", "procs", "--inner", "gpu", "--per-gpu", "3",
                    "-o", "procs-k.h5"], capture_output=True, text=True, timeout=600,
                   env=dict(os.environ, AZS_GPU_TRACE="1"))
traced = sorted(l.split()[1] for l in p.stderr.splitlines() if l.startswith("worker ") and " trace: " in l)
check(p.returncode == 0 and traced == ["0", "1", "2"], "--per-gpu 3 alone: workers %s, rc %d %s" %
      (traced, p.returncode, p.stderr[-300:]))
if p.returncode == 0:
    check(same(read("procs-k.h5", "I"), ref_i), "procs gpu --per-gpu 3: intensity differs from threads")
finish("procs gpu tests")
