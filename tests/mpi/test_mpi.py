#!/usr/bin/env python3
"""--layout mpi under `mpirun --oversubscribe -np N` on this host, checked with h5py against
the serial layout run here: bit-identical I / I_errors / frame numbers for 1, 2 and 3 ranks,
1D and 2D with errors, several inputs with --frames, a corrupt frame (fatal: exit != 0,
the frames before it written; --skip-bad: NaN row, identical otherwise).
usage: test_mpi.py AZSTREAM WORKDIR HAVE_MPI(0|1)"""
import os, shutil, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli_integrate"))
az = os.path.abspath(sys.argv[1])
wd = os.path.abspath(sys.argv[2])
if sys.argv[3] != "1":
    print("azstream was built without MPI: skipped")
    sys.exit(77)
mpirun = shutil.which("mpirun")
if not mpirun:
    print("no mpirun: skipped")
    sys.exit(77)
try:
    import h5py, hdf5plugin  # noqa: F401
except ImportError:
    sys.exit(77)
import make_stack
from e2e import check, finish, fresh_workdir, read, same

wd = fresh_workdir(wd)
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1",
           # Sanitizer builds: Open MPI's plugins keep allocations until exit and are
           # dlclose'd by then, so LeakSanitizer cannot even name them for a suppression.
           # Leak checking stays on for every other test; address/UB checks stay on here.
           ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":"))


def run(*args):
    p = subprocess.run([az, "integrate", *map(str, args)], capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


def mpi(n, *args):
    cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(n), az, "integrate", *map(str, args)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        check(False, "mpirun hung: %s" % " ".join(cmd))
        return 124, "", ""
    return p.returncode, p.stdout, p.stderr


NY, NX = 120, 100
make_stack.write_poni("g.poni", NY, NX)
make_stack.write_stack("s.h5", 50, NY, NX)
make_stack.write_stack("s2.h5", 11, NY, NX, seed=5)

combos = {
    "bbox1d": ["--npt", 300],
    "full2d_err": ["--method", "full", "--npt", 60, "--npt-azim", 12, "--error-model", "poisson"],
}
for name, opts in combos.items():
    ref = name + "_serial.h5"
    rc, _, se = run("s.h5", "--poni", "g.poni", *opts, "-o", ref, "--quiet")
    check(rc == 0, "%s serial: %s" % (name, se))
    keys = ["I", "I_errors"] if "--error-model" in opts else ["I"]
    for n in ((1, 3) if name == "full2d_err" else (1, 2, 3)):
        out = "%s_mpi%d.h5" % (name, n)
        rc, so, se = mpi(n, "s.h5", "--poni", "g.poni", *opts, "--layout", "mpi", "--workers", 1, "-o", out)
        check(rc == 0 and so.count("azstream integrate:") == 1 and "50 frames" in so,
              "%s mpi %d: exit %d %r %r" % (name, n, rc, so, se[-2000:]))
        if rc == 0:
            for k in keys + ["frame"]:
                check(same(read(ref, k), read(out, k)), "%s mpi %d: %s differs from serial" % (name, n, k))

# two inputs, a frame range, small chunks so every rank gets several
rc, _, se = run("s.h5", "s2.h5", "--poni", "g.poni", "--npt", 200, "--frames", "2:47", "-o", "m_ser.h5", "--quiet")
rc2, so, se2 = mpi(3, "s.h5", "s2.h5", "--poni", "g.poni", "--npt", 200, "--frames", "2:47", "--layout", "mpi",
                   "--workers", 1, "-o", "m_mpi.h5")
check(rc == 0 and rc2 == 0 and same(read("m_ser.h5"), read("m_mpi.h5")) and same(read("m_ser.h5", "frame"), read("m_mpi.h5", "frame")),
      "two inputs: %d %d %r" % (rc, rc2, se2[-2000:]))

# corrupt frame 30: fatal, then skipped
shutil.copy("s.h5", "c.h5")
make_stack.corrupt_chunk("c.h5", 30)
ref = read("bbox1d_serial.h5")
rc, so, se = mpi(3, "c.h5", "--poni", "g.poni", "--npt", 300, "--layout", "mpi", "--workers", 1, "-o", "c_mpi.h5")
check(rc != 0 and "frame 30" in se, "corrupt: exit %d %r" % (rc, se[-2000:]))
try:
    I = read("c_mpi.h5")
    check(I.shape[0] == 30 and same(I, ref[:30]), "corrupt: %d rows" % I.shape[0])
except OSError as e:
    check(False, "corrupt: output unreadable: %s" % e)
rc, _, _ = run("c.h5", "--poni", "g.poni", "--npt", 300, "--skip-bad", "-o", "cs_ser.h5", "--quiet")
rc2, so, se = mpi(3, "c.h5", "--poni", "g.poni", "--npt", 300, "--skip-bad", "--layout", "mpi", "--workers", 1,
                  "-o", "cs_mpi.h5")
check(rc == 0 and rc2 == 0 and "1 bad" in so and same(read("cs_ser.h5"), read("cs_mpi.h5")),
      "skip-bad: %d %d %r %r" % (rc, rc2, so, se[-2000:]))

finish("mpi")
