#!/usr/bin/env python3
"""Layout 2 (procs): faults that are not deaths, and silence on success.
* A worker stopped with SIGSTOP (as a hung one) must not stall the run: with
  --worker-timeout 2 the parent reports it (its pid and the frames it held), kills it and
  re-assigns its frames; the run exits 0 and I, I_errors and frame equal a threads-layout
  run of the same stack bit for bit. The worker is stopped as soon as it exists, so it
  holds its first two ranges whatever the machine's speed.
* A successful run prints nothing on stderr: no "Broken pipe" from workers that were still
  starting when the parent, done, closed their channels (8 workers on 60 frames, so the
  first ones finish the run before the last have built their integrator).
* --worker-timeout takes seconds >= 0, else a usage error.
usage: test_procs_faults.py AZSTREAM WORKDIR"""
import os, signal, subprocess, sys, time

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


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def alive(pid):
    out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return out != "" and not out.startswith("Z")


# --- silence on success
make_stack.write_poni("g.poni", 120, 100)
make_stack.write_stack("s.h5", 60, 120, 100)
for i in range(4):
    p = subprocess.run([az, "integrate", "s.h5", "--poni", "g.poni", "--npt", "300", "--layout", "procs",
                        "--workers", "8", "--threads-per-worker", "1", "-o", "quiet%d.h5" % i, "--quiet"],
                       capture_output=True, text=True)
    check(p.returncode == 0 and p.stderr == "" and p.stdout == "",
          "successful procs run %d: exit %d, stderr %r" % (i, p.returncode, p.stderr))

# --- usage
for bad in ("-1", "x", "nan", "2s"):
    p = subprocess.run([az, "integrate", "s.h5", "--poni", "g.poni", "--layout", "procs",
                        "--worker-timeout", bad, "-o", "u.h5"], capture_output=True, text=True)
    check(p.returncode == 2 and "--worker-timeout" in p.stderr, "--worker-timeout %s: %d %r" % (bad, p.returncode, p.stderr))

# --- a stopped worker
make_stack.write_poni("big.poni", 256, 256)
make_stack.write_stack("big.h5", 200, 256, 256, seed=3)
opts = ["--poni", "big.poni", "--method", "full", "--npt", "200", "--npt-azim", "36", "--error-model", "poisson"]
p = subprocess.run([az, "integrate", "big.h5", *opts, "--layout", "threads", "--workers", "2", "-o", "ref.h5",
                    "--quiet"], capture_output=True, text=True)
check(p.returncode == 0, "threads reference: %d %r" % (p.returncode, p.stderr))

proc = subprocess.Popen([az, "integrate", "big.h5", *opts, "--layout", "procs", "--workers", "2",
                         "--threads-per-worker", "1", "--worker-timeout", "2", "-o", "stopped.h5"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
victim = None
t0 = time.time()
while time.time() - t0 < 20 and victim is None and proc.poll() is None:
    kids = children(proc.pid)
    if kids:
        victim = kids[0]
        os.kill(victim, signal.SIGSTOP)
    else:
        time.sleep(0.005)
check(victim is not None, "no worker process seen")
try:
    so, se = proc.communicate(timeout=90)
    check(proc.returncode == 0, "stopped worker: exit %d %r" % (proc.returncode, se))
    check(victim is None or ("pid %d" % victim) in se and "sent nothing for 2 s" in se and "re-assigned" in se,
          "stopped worker %s not reported as such: %r" % (victim, se))
    check("Broken pipe" not in se, "stopped worker: %r" % se)
    if proc.returncode == 0:
        for k in ("I", "I_errors", "frame"):
            check(same(read("ref.h5", k), read("stopped.h5", k)), "stopped worker: %s differs from threads" % k)
except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    check(False, "a stopped worker stalled the run (killed after 90 s)")
if victim is not None and alive(victim):
    check(False, "the stopped worker %d is still there" % victim)
    os.kill(victim, signal.SIGKILL)
    os.kill(victim, signal.SIGCONT)

finish("procs faults")
