#!/usr/bin/env python3
"""Layout 1 end to end with the real source, codec and integrator (runs in the release,
ASan and TSan builds; OMP_NUM_THREADS=1 because libgomp is not TSan-instrumented and the
threads layout itself uses no OpenMP): several workers with --skip-bad over two inputs
(a reader thread, and workers mapping their own chunks),
a corrupt frame stopping the run, and Ctrl-C (SIGINT) stopping it with a valid output.
usage: test_threads_e2e.py AZSTREAM WORKDIR"""
import os, shutil, signal, subprocess, sys, time
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli_integrate"))
try:
    import h5py, hdf5plugin  # noqa: F401
except ImportError:
    sys.exit(77)
import make_stack

az, wd = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
shutil.rmtree(wd, ignore_errors=True)
os.makedirs(wd)
os.chdir(wd)
env = dict(os.environ, OMP_NUM_THREADS="1", TSAN_OPTIONS="halt_on_error=1 exitcode=66")
fails = []


def check(c, msg):
    if not c:
        fails.append(msg)
        print("FAIL:", msg, flush=True)


def run(*a):
    p = subprocess.run([az, "integrate", *map(str, a)], capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


NY, NX = 96, 80
make_stack.write_poni("g.poni", NY, NX)
make_stack.write_stack("s.h5", 10, NY, NX)
shutil.copy("s.h5", "c.h5")
make_stack.corrupt_chunk("c.h5", 4)
rc, so, se = run("s.h5", "--poni", "g.poni", "--npt", 64, "-o", "ref.h5", "--layout", "serial")
check(rc == 0, "serial: %d %s" % (rc, se))
# 1 and 3 workers (the default feeding: a reader thread here), and 3 mapping their chunks
for tag, w, rd in (("1", 1, []), ("3", 3, []), ("3map", 3, ["--read", "map"])):
    rc, so, se = run("s.h5", "c.h5", "--poni", "g.poni", "--npt", 64, "--error-model", "poisson",
                     "--layout", "threads", "--workers", w, *rd, "--skip-bad", "-o", "t%s.h5" % tag)
    check(rc == 0 and "1 bad" in so, "threads %s skip-bad: %d %s" % (tag, rc, se))
    rc, so, se = run("c.h5", "--poni", "g.poni", "--npt", 64, "--layout", "threads", "--workers", w,
                     *rd, "-o", "c%s.h5" % tag)
    check(rc == 1 and "frame 4" in se and "c.h5" in se, "threads %s corrupt: %d %s" % (tag, rc, se))
    with h5py.File("c%s.h5" % tag, "r") as f:
        check(f["entry/result/I"].shape[0] == 4, "threads %s corrupt: rows" % tag)
if not fails:
    with h5py.File("t1.h5", "r") as a, h5py.File("ref.h5", "r") as r:
        for other in ("t3.h5", "t3map.h5"):
            with h5py.File(other, "r") as b:
                check(np.array_equal(a["entry/result/I"][()], b["entry/result/I"][()], equal_nan=True),
                      "1 worker vs " + other)
        check(np.array_equal(a["entry/result/I"][:10], r["entry/result/I"][()]), "threads vs serial")

# Ctrl-C: a stack long enough to be interrupted
NL = 3000
make_stack.write_long_stack("long.h5", NL, 512, 512)
make_stack.write_poni("l.poni", 512, 512)
# "no" splitting: a cheap matrix (sanitizer builds are slow), frames still cost something
p = subprocess.Popen([az, "integrate", "long.h5", "--poni", "l.poni", "--method", "no", "--layout",
                      "threads", "--workers", "2", "-o", "int.h5"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True, env=env)
for _ in range(2400):  # the output exists once the matrix is built and the run starts
    if os.path.exists("int.h5") or p.poll() is not None:
        break
    time.sleep(0.1)
time.sleep(0.3)
p.send_signal(signal.SIGINT)
t = time.time()
so, se = p.communicate(timeout=120)
stopped = time.time() - t
if p.returncode == 0:
    print("note: the run finished before SIGINT arrived; cancel not exercised")
else:
    check(p.returncode == 1 and "interrupted" in se.lower(), "SIGINT: exit %d %r" % (p.returncode, se))
    check(stopped < 5, "SIGINT: took %.1f s to stop" % stopped)
with h5py.File("int.h5", "r") as f:
    r = f["entry/result"]
    n = r["I"].shape[0]
    check(int(r.attrs["frames_written"]) == n and (p.returncode == 0) == (n == NL),
          "SIGINT: %d rows, frames_written %d" % (n, int(r.attrs["frames_written"])))
    check(np.isfinite(r["I"][()]).all(), "SIGINT: rows complete")
print("threads e2e:", "FAILED %d" % len(fails) if fails else "ok")
sys.exit(1 if fails else 0)
