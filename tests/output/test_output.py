#!/usr/bin/env python3
"""Safe outputs and --resume, through the CLI (include/azstream/sink.h, doc/design.md "Sinks").
usage: test_output.py AZSTREAM WORKDIR CASE [LAYOUT]
  exists      an existing output (HDF5, text) refused: exit 2, its bytes unchanged, the message
              naming it and --overwrite; --overwrite replaces it; the messages of a missing
              folder (errno text) and of a name without extension
  frame0      a run failing at frame 0 (corrupt first chunk) leaves an existing output as it
              was even with --overwrite, and no partial file
  reader      an h5py reader holding the output open while a run replaces it keeps reading
              its file, whole
  concurrent  a second writer of an output being written exits 2 naming the first's pid; the
              first's file is complete
  ulimit      a file size limit (ulimit -f): exit 1 naming EFBIG, no signal, a valid file
              whose rows are frames_written and equal the uninterrupted run's first rows
  tmpfs       a full disk (a 2 MiB tmpfs; skipped where mount is not allowed): the same with
              "No space left on device"
  text        .dat outputs: refused when they exist, no temporary file left, --resume refused
  kill        SIGKILL at 10 random moments, each followed by --resume, then one run to the
              end: I, I_errors, frame, frame_status bit-identical to an uninterrupted run"""
import os, random, shutil, signal, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli_integrate"))
import numpy as np
import h5py
import make_stack
from e2e import check, finish, fresh_workdir, same

az = os.path.abspath(sys.argv[1])
wd = fresh_workdir(sys.argv[2])
case = sys.argv[3]
layout = sys.argv[4] if len(sys.argv) > 4 else "threads"
NY, NX = 96, 80
KEYS = ("I", "I_errors", "frame", "frame_status")


def run(args, **kw):
    return subprocess.run([az] + args, capture_output=True, text=True, **kw)


def integrate(inputs, out, *extra, **kw):
    return run(["integrate"] + inputs + ["--poni", "g.poni", "--npt", "200", "--error-model", "poisson",
                                         "-o", out, "--quiet"] + list(extra), **kw)


def stack(name, frames, seed=1):
    r = run(["synth", "-o", name, "--poni", "g.poni", "--frames", str(frames), "--seed", str(seed)])
    assert r.returncode == 0, r.stderr


def content(path):
    with h5py.File(path, "r") as f:
        r = f["entry/result"]
        return {k: r[k][()] for k in KEYS if k in r}, int(r.attrs["frames_written"])


def valid_prefix(path, ref, what):
    """path opens, every dataset holds frames_written rows, equal to ref's first rows."""
    try:
        got, fw = content(path)
    except Exception as e:  # noqa: BLE001
        check(False, f"{what}: {path} does not open: {e}")
        return -1
    for k in KEYS:
        check(got[k].shape[0] == fw, f"{what}: {k} has {got[k].shape[0]} rows, frames_written {fw}")
        check(same(got[k], ref[k][:fw]), f"{what}: {k}'s {fw} rows differ from the uninterrupted run's")
    return fw


def leftovers(folder="."):
    return sorted(n for n in os.listdir(folder) if ".azs-" in n)


def bytes_of(path):
    with open(path, "rb") as f:
        return f.read()


make_stack.write_poni("g.poni", NY, NX)

if case == "exists":
    stack("s.h5", 40)
    r = integrate(["s.h5"], "out.h5")
    check(r.returncode == 0, f"first run: {r.stderr}")
    before = bytes_of("out.h5")
    r = integrate(["s.h5"], "out.h5", "--npt-azim", "4")
    check(r.returncode == 2, f"second run without --overwrite: exit {r.returncode}, want 2")
    check("out.h5" in r.stderr and "--overwrite" in r.stderr and "--resume" in r.stderr,
          f"the refusal names the file and the options: {r.stderr}")
    check(bytes_of("out.h5") == before, "a refused run changed the output")
    r = integrate(["s.h5"], "out.h5", "--npt-azim", "4", "--overwrite")
    check(r.returncode == 0, f"--overwrite: {r.stderr}")
    with h5py.File("out.h5", "r") as f:
        check(f["entry/result/I"].shape == (40, 4, 200), "--overwrite did not replace the output")
    check(leftovers() == [], f"files left beside the output: {leftovers()}")
    r = integrate(["s.h5"], "out.h5", "--overwrite", "--resume")
    check(r.returncode == 2, "--overwrite with --resume is a usage error")
    r = integrate(["s.h5"], "nodir/out.h5")
    check(r.returncode == 1 and "No such file or directory" in r.stderr,
          f"a missing folder: the system's reason: {r.stderr}")
    r = integrate(["s.h5"], "noext")
    check(r.returncode != 0 and "extension" in r.stderr and "'.'" not in r.stderr,
          f"a name without extension: {r.stderr}")
    r = integrate(["s.h5"], "out.h5", "--resume", "--npt", "100")
    check(r.returncode == 2 and "nbpt_rad" in r.stderr and "100" in r.stderr,
          f"--resume of other settings: exit 2 naming the difference: {r.stderr}")

elif case == "frame0":
    stack("s.h5", 20)
    r = integrate(["s.h5"], "out.h5")
    check(r.returncode == 0, f"first run: {r.stderr}")
    before = bytes_of("out.h5")
    shutil.copy("s.h5", "bad.h5")
    with h5py.File("bad.h5", "r") as f:
        info = f["entry/data/data"].id.get_chunk_info(0)
    with open("bad.h5", "r+b") as f:  # the first chunk's header announces far more bytes
        f.seek(info.byte_offset)
        f.write((1 << 40).to_bytes(8, "big"))
    for extra in (["--overwrite"],):
        r = integrate(["bad.h5"], "out.h5", *extra)
        check(r.returncode == 1, f"{extra}: a corrupt frame 0 is a failure: exit {r.returncode} {r.stderr}")
        check(bytes_of("out.h5") == before, f"{extra}: a run failing at frame 0 changed the output")
        check(leftovers() == [], f"{extra}: files left beside the output: {leftovers()}")
    r = integrate(["bad.h5"], "new.h5")
    check(r.returncode == 1 and not os.path.exists("new.h5") and leftovers() == [],
          "a run failing at frame 0 with no output before leaves none")

elif case == "reader":
    stack("s.h5", 40)
    r = integrate(["s.h5"], "out.h5")
    check(r.returncode == 0, f"first run: {r.stderr}")
    old, _ = content("out.h5")
    with h5py.File("out.h5", "r") as f:
        r = integrate(["s.h5"], "out.h5", "--npt", "100", "--overwrite")
        check(r.returncode == 0, f"a run replacing an output held open: {r.stderr}")
        check(os.path.getsize("out.h5") > 0, "the output is empty")
        res = f["entry/result"]
        check(all(same(res[k][()], old[k]) for k in KEYS), "the reader's file changed under it")
    with h5py.File("out.h5", "r") as f:
        check(f["entry/result/I"].shape == (40, 100), "the new output is not in place")

elif case == "concurrent":
    stack("s.h5", 400)
    inputs = ["s.h5"] * 40  # 16000 frames: long enough to catch it running
    first = subprocess.Popen([az, "integrate"] + inputs + ["--poni", "g.poni", "--npt", "200", "-o", "out.h5",
                                                           "--quiet", "--layout", "serial"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = ".out.h5.azs-lock"

    def owner():  # the lock file names its owner once the lock is taken
        try:
            with open(lock) as f:
                return f.read().strip()
        except OSError:
            return ""
    t0 = time.time()
    while owner() != str(first.pid) and first.poll() is None and time.time() - t0 < 120:
        time.sleep(0.001)
    os.kill(first.pid, signal.SIGSTOP)  # held mid-run, whatever the machine's speed
    try:
        still = owner() == str(first.pid)
        r = integrate(["s.h5"], "out.h5", "--overwrite")
        check(still, "the first writer finished before the second started: make the stack longer")
        check(r.returncode == 2 and f"pid {first.pid}" in r.stderr and "another run" in r.stderr,
              f"the second writer: exit {r.returncode}, {r.stderr}")
        r = integrate(["s.h5"], "out.h5", "--resume")
        check(r.returncode == 2 and f"pid {first.pid}" in r.stderr, f"a resume while it runs: {r.stderr}")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    check(first.returncode == 0, f"the first writer: {err}")
    got, fw = content("out.h5")
    check(fw == 16000 and got["frame"].shape == (16000,) and np.array_equal(got["frame"], np.arange(16000)),
          "the first writer's output is not complete")
    check(leftovers() == [], f"files left beside the output: {leftovers()}")

elif case in ("ulimit", "tmpfs"):
    stack("s.h5", 400)
    inputs = ["s.h5"] * 8  # 3200 rows of 200 bins, with errors: ~5.3 MB
    r = integrate(inputs, "ref.h5")
    check(r.returncode == 0, f"the uninterrupted run: {r.stderr}")
    ref, _ = content("ref.h5")
    if case == "ulimit":
        out = "out.h5"
        r = subprocess.run(["bash", "-c", 'ulimit -f 1500; exec "$@"', "bash", az, "integrate"] + inputs +
                           ["--poni", "g.poni", "--npt", "200", "--error-model", "poisson", "-o", out, "--quiet"],
                           capture_output=True, text=True)
        reason = "File too large"
    else:
        os.makedirs("mnt")
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", "mnt"], capture_output=True)
        if m.returncode != 0:
            print("skip: mount -t tmpfs is not allowed here:", m.stderr.decode().strip())
            sys.exit(77)
        try:
            out = "mnt/out.h5"
            r = integrate(inputs, out)
            files = sorted(os.listdir("mnt"))
            if os.path.exists(out):
                shutil.copy(out, "kept.h5")
        finally:
            subprocess.run(["umount", "mnt"])
        out = "kept.h5"
        check(files == ["out.h5"], f"what the run left on the full disk: {files}")
        reason = "No space left on device"
    print(r.stderr.strip())
    check(r.returncode == 1, f"exit {r.returncode}, want 1 (a negative one is a signal)")
    check(reason in r.stderr, f"the message names the reason ({reason}): {r.stderr}")
    check("Segmentation" not in r.stderr, "a crash")
    fw = valid_prefix(out, ref, case)
    check(0 < fw < 3200, f"{fw} rows kept: want some, not all")
    if case == "ulimit":
        check(leftovers() == [], f"files left beside the output: {leftovers()}")
        r = integrate(inputs, out, "--resume")
        check(r.returncode == 0, f"--resume after the limit: {r.stderr}")
        check(valid_prefix(out, ref, "resumed") == 3200, "--resume did not finish the output")

elif case == "text":
    stack("s.h5", 3)
    r = integrate(["s.h5"], "p.dat")
    check(r.returncode == 0 and sorted(os.listdir(".")) ==
          ["g.poni", "p_00000.dat", "p_00001.dat", "p_00002.dat", "s.h5"], f"text run: {r.stderr} {os.listdir('.')}")
    before = bytes_of("p_00001.dat")
    r = integrate(["s.h5"], "p.dat")
    check(r.returncode == 2 and "p_00000.dat" in r.stderr and "--overwrite" in r.stderr,
          f"existing text output: {r.stderr}")
    r = integrate(["s.h5"], "p.dat", "--resume")
    check(r.returncode == 2 and "HDF5" in r.stderr, f"--resume of a text output: {r.stderr}")
    r = integrate(["s.h5"], "p.dat", "--overwrite", "--npt", "50")
    check(r.returncode == 0 and bytes_of("p_00001.dat") != before, f"--overwrite of a text output: {r.stderr}")
    check(leftovers() == [], f"temporary files left: {leftovers()}")
    r = integrate(["s.h5"], "one.xy", "--frames", "1")
    check(r.returncode == 0 and os.path.exists("one.xy") and leftovers() == [], f"one frame: {r.stderr}")

elif case == "kill":
    stack("s.h5", 500)
    inputs = ["s.h5", "s.h5", "s.h5"]  # 1500 frames; the frame range skips into the second
    extra = ["--layout", layout, "--workers", "2", "--frames", "20:480", "--skip-bad"]
    r = integrate(inputs, "ref.h5", *extra)
    check(r.returncode == 0, f"the uninterrupted run: {r.stderr}")
    ref, total = content("ref.h5")
    seed = int(os.environ.get("AZS_TEST_SEED", time.time_ns() % 100000))
    rng = random.Random(seed)
    print(f"seed {seed} (AZS_TEST_SEED to repeat)", flush=True)
    t0 = time.time()
    integrate(inputs, "full.h5", *extra)
    span = max(0.3, time.time() - t0)  # a whole run, start-up included
    progress = []
    for k in range(10):
        p = subprocess.Popen([az, "integrate"] + inputs + ["--poni", "g.poni", "--npt", "200", "--error-model",
                             "poisson", "-o", "out.h5", "--quiet", "--resume"] + extra,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(rng.uniform(0, span))
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        while True:  # the workers of layout procs too
            try:
                os.killpg(p.pid, 0)
                time.sleep(0.01)
            except ProcessLookupError:
                break
        seen = ".out.h5.azs-partial" if os.path.exists(".out.h5.azs-partial") else "out.h5"
        try:
            progress.append(content(seen)[1] if os.path.exists(seen) else 0)
        except Exception as e:  # noqa: BLE001  (killed while creating it: --resume starts over)
            print("unreadable:", e, os.listdir("."))
            progress.append(-1)
    print("frames_written after each kill:", progress, flush=True)
    r = integrate(inputs, "out.h5", "--resume", *extra)
    check(r.returncode == 0, f"the last --resume: {r.stderr}")
    got, fw = content("out.h5")
    check(fw == total, f"frames_written {fw}, want {total}")
    for k in KEYS:
        check(same(got[k], ref[k]), f"{k} differs from the uninterrupted run's")
    check(leftovers() == [], f"files left beside the output: {leftovers()}")
else:
    sys.exit(f"unknown case {case}")

finish(f"output {case}")
