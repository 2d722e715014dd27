#!/usr/bin/env python3
"""Layout 2 (procs) end to end, checked with h5py against the serial layout run here:
bit-identical I (and I_errors) for 1, 2, 3 workers and several option sets, several
inputs, --frames, --threads-per-worker; a worker killed mid-run (AZS_TEST_WORKER_DIE_AFTER)
-> the run completes, identical, the parent reports it; every worker dying -> exit 1, the
unintegrated frames named, the output valid with the frames before them; a corrupt frame
with and without --skip-bad; Ctrl-C (SIGINT to the process group) -> exit 1; after every
run no process started from this work directory is left (orphans) and none of the
parent's children is a zombie while it runs.
usage: test_procs.py AZSTREAM WORKDIR"""
import os, shutil, signal, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli_integrate"))
try:
    import h5py, hdf5plugin  # noqa: F401
except ImportError:
    sys.exit(77)
import make_stack
from e2e import check, finish, fresh_workdir, read, same

az = os.path.abspath(sys.argv[1])
wd = fresh_workdir(sys.argv[2])


def leftovers():
    """Processes whose command line names this work directory (our workers get absolute
    input paths), other than ourselves."""
    out = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    # wd + "/": not the work directories that merely start like it (procs.faults' work_faults)
    mine = os.path.join(wd, "")
    return [l for l in out.splitlines() if mine in l and "test_procs.py" not in l and " ps " not in l]


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([az, "integrate", *map(str, args)], capture_output=True, text=True, env=e)
    time.sleep(0.05)
    left = leftovers()
    check(not left, "processes left after %s: %s" % (" ".join(map(str, args)), left))
    return p.returncode, p.stdout, p.stderr


NY, NX = 120, 100
make_stack.write_poni("g.poni", NY, NX)
make_stack.write_stack("s.h5", 60, NY, NX)
make_stack.write_stack("s2.h5", 13, NY, NX, seed=7)
S, S2 = os.path.join(wd, "s.h5"), os.path.join(wd, "s2.h5")

combos = {
    "bbox1d": ["--npt", 300],
    "full2d_err": ["--method", "full", "--npt", 60, "--npt-azim", 12, "--unit", "2th_deg",
                   "--error-model", "poisson"],
    "no_pol": ["--method=no", "--npt", 150, "--polarization", 0.95, "--no-solid-angle",
               "--radial-range", "2:20"],
}
for name, opts in combos.items():
    ref = "%s_serial.h5" % name
    rc, so, se = run(S, "--poni", "g.poni", *opts, "-o", ref, "--quiet")
    check(rc == 0, "%s serial: %d %s" % (name, rc, se))
    keys = ["I", "I_errors"] if "--error-model" in opts else ["I"]
    for w in (1, 2, 3):
        out = "%s_procs%d.h5" % (name, w)
        rc, so, se = run(S, "--poni", "g.poni", *opts, "--layout", "procs", "--workers", w,
                         "--threads-per-worker", 1, "-o", out)
        check(rc == 0 and "60 frames" in so, "%s procs %d: exit %d %s %s" % (name, w, rc, so, se))
        if rc == 0:
            for k in keys:
                check(same(read(ref, k), read(out, k)), "%s procs %d: %s differs from serial" % (name, w, k))
            check(same(read(ref, "frame"), read(out, "frame")), "%s procs %d: frame numbers" % (name, w))

# threads inside each worker, frame range, two inputs
rc, _, se = run(S, S2, "--poni", "g.poni", "--npt", 200, "--frames", "3:50", "-o", "m_ser.h5", "--quiet")
check(rc == 0, "two inputs serial: %s" % se)
rc, so, se = run(S, S2, "--poni", "g.poni", "--npt", 200, "--frames", "3:50", "--layout", "procs",
                 "--workers", 2, "--threads-per-worker", 2, "-o", "m_procs.h5")
check(rc == 0 and same(read("m_ser.h5"), read("m_procs.h5")) and same(read("m_ser.h5", "frame"), read("m_procs.h5", "frame")),
      "two inputs, --frames, 2x2: %d %s" % (rc, se))

# a worker killed mid-run: its unfinished frames go to the others
ref = read("bbox1d_serial.h5")
# Frames are handed out dynamically, so a worker is only sure to send a few frames before the
# fastest one has taken the rest: the thresholds stay small (a late one raced in release builds).
for spec, w in (("1:5", 3), ("0:1", 2), ("1:3", 2)):
    out = "kill_%s_%d.h5" % (spec.replace(":", "_"), w)
    rc, so, se = run(S, "--poni", "g.poni", "--npt", 300, "--layout", "procs", "--workers", w,
                     "--threads-per-worker", 1, "-o", out, env={"AZS_TEST_WORKER_DIE_AFTER": spec})
    wid = spec.split(":")[0]
    check(rc == 0 and ("worker %s" % wid) in se and "signal 9" in se and "re-assigned" in se,
          "kill %s of %d: exit %d, %r" % (spec, w, rc, se))
    if rc == 0:
        check(same(ref, read(out)), "kill %s of %d: output differs from serial" % (spec, w))

# the only worker dies: the run fails, names the frames, keeps what it wrote
rc, so, se = run(S, "--poni", "g.poni", "--npt", 300, "--layout", "procs", "--workers", 1,
                 "-o", "dead.h5", env={"AZS_TEST_WORKER_DIE_AFTER": "0:7"})
check(rc == 1 and "every worker process died" in se and "frames 7..59" in se,
      "all dead: exit %d %r" % (rc, se))
try:
    I = read("dead.h5")
    check(I.shape[0] == 7 and same(I, ref[:7]), "all dead: %d rows" % I.shape[0])
except OSError as e:
    check(False, "all dead: output unreadable: %s" % e)

# corrupt frame: fatal (frames before it written) and --skip-bad (NaN row)
shutil.copy("s.h5", "c.h5")
make_stack.corrupt_chunk("c.h5", 21)
C = os.path.join(wd, "c.h5")
rc, so, se = run(C, "--poni", "g.poni", "--npt", 300, "--layout", "procs", "--workers", 3, "-o", "c.h5out.h5")
check(rc == 1 and "frame 21" in se and "c.h5" in se, "corrupt: exit %d %r" % (rc, se))
try:
    I = read("c.h5out.h5")
    check(I.shape[0] == 21 and same(I, ref[:21]), "corrupt: %d rows" % I.shape[0])
except OSError as e:
    check(False, "corrupt: output unreadable: %s" % e)
rc, _, se = run(C, "--poni", "g.poni", "--npt", 300, "--skip-bad", "-o", "cs_ser.h5", "--quiet")
rc2, so, se2 = run(C, "--poni", "g.poni", "--npt", 300, "--skip-bad", "--layout", "procs", "--workers", 2,
                   "-o", "cs_procs.h5")
check(rc == 0 and rc2 == 0 and "1 bad" in so and same(read("cs_ser.h5"), read("cs_procs.h5")),
      "skip-bad: %d %d %r %r" % (rc, rc2, se, se2))

# bad usage
rc, _, se = run(S, "--poni", "g.poni", "--layout", "procs", "--gpus", "x", "-o", "u.h5")
check(rc == 2 and "--gpus" in se, "bad --gpus: %d %r" % (rc, se))

# Ctrl-C: SIGINT to the whole process group, as a terminal does. Workers must not
# outlive the parent, the parent must not turn into a hang, and the exit code is 1.
make_stack.write_stack("big.h5", 400, 256, 256, seed=3)
make_stack.write_poni("big.poni", 256, 256)
B = os.path.join(wd, "big.h5")
# A 2D full-split cake keeps the run going for seconds even in a release build.
p = subprocess.Popen([az, "integrate", B, "--poni", "big.poni", "--method", "full", "--npt-azim", "360",
                      "--npt", "500", "--error-model", "poisson", "--layout", "procs",
                      "--workers", "2", "--threads-per-worker", "1", "-o", "int.h5"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
# wait until the workers run (their command lines name the big stack), then look for zombies
t0 = time.time()
while time.time() - t0 < 10 and len([l for l in leftovers() if "worker" in l]) < 2:
    time.sleep(0.02)
time.sleep(0.1)
zombies = [l for l in leftovers() if l.split()[1].startswith("Z")]
os.killpg(p.pid, signal.SIGINT)
try:
    so, se = p.communicate(timeout=20)
    check(p.returncode == 1 and "interrupted" in se, "Ctrl-C: exit %d %r" % (p.returncode, se))
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    check(False, "Ctrl-C: the run hung")
time.sleep(0.1)
check(not leftovers(), "Ctrl-C: processes left: %s" % leftovers())
check(not zombies, "zombies during the run: %s" % zombies)

finish("procs")
