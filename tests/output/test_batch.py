#!/usr/bin/env python3
"""Runs that behave in batch systems, and text outputs pyFAI's users read (doc/design.md
"Sinks", README "integrate").
usage: test_batch.py AZSTREAM WORKDIR CASE
  progress  stderr a file: whole progress lines (no carriage return) at about the --progress
            interval, frames rising to N/N (100.0%), frames/s and ETA; --quiet and
            --log-level warning print none; --progress 0 none but the summary
  pattern   -o {stem}_azint.h5 over three inputs: one output each, equal to the output of
            that input alone; a pattern naming two inputs alike, or an unknown {key}: exit 2
            before any output; the concatenated output without a pattern stays one file
  dat       the '#' header of a .dat output against the one pyFAI's integrate1d(filename=)
            writes for the same geometry and options: the geometry (as JSON), mask, dark, flat,
            polarization and normalization lines equal; the columns np.loadtxt reads"""
import json, os, re, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli_integrate"))
import numpy as np
import h5py
import make_stack
from e2e import check, finish, fresh_workdir, same

az = os.path.abspath(sys.argv[1])
wd = fresh_workdir(sys.argv[2])
case = sys.argv[3]
NY, NX = 96, 80


def run(args, **kw):
    return subprocess.run([az] + [str(a) for a in args], capture_output=True, text=True, **kw)


def integrate(inputs, out, *extra):
    return run(["integrate", *inputs, "--poni", "g.poni", "--npt", "200", "-o", out, *extra])


make_stack.write_poni("g.poni", NY, NX)
r = run(["synth", "-o", "s.h5", "--poni", "g.poni", "--frames", "300"])
assert r.returncode == 0, r.stderr

if case == "progress":
    # The same input K times makes a run long enough for several lines on any machine.
    def timed(n):
        t = time.monotonic()
        r = integrate(["s.h5"] * n, f"cal{n}.h5", "--layout", "serial", "--quiet", "--overwrite")
        assert r.returncode == 0, r.stderr
        return time.monotonic() - t
    timed(1)  # the integrator cache filled
    per = max((timed(9) - timed(1)) / 8, 2e-4)  # one more input, start-up apart
    k = min(1000, max(4, int(np.ceil(2.5 / per))))
    with open("err.txt", "w") as err:
        t = time.monotonic()
        p = subprocess.run([az, "integrate", *(["s.h5"] * k), "--poni", "g.poni", "--npt", "200", "-o", "p.h5",
                            "--layout", "serial", "--progress", "0.2"], stdout=subprocess.PIPE, stderr=err, text=True)
        took = time.monotonic() - t
    check(p.returncode == 0, f"exit {p.returncode}")
    text = open("err.txt").read()
    check("\r" not in text, "a carriage return in a log file")
    pat = re.compile(r"^azstream integrate: (\d+)/(\d+) frames \((\d+\.\d)%\), (\d+\.\d) frames/s, ETA (\S+( s)?)$")
    lines = [ln for ln in text.splitlines() if "frames/s, ETA" in ln]
    got = [pat.match(ln) for ln in lines]
    check(all(got), f"lines not of the form 'N/M frames (P%), F frames/s, ETA E': {lines}")
    total = 300 * k
    done = [int(m.group(1)) for m in got if m]
    check(all(int(m.group(2)) == total for m in got if m), f"the total is not {total}: {lines}")
    check(done == sorted(set(done)), f"the counts do not rise: {done}")
    check(done and done[-1] == total and lines[-1].endswith("ETA 0 s") and "(100.0%)" in lines[-1],
          f"the last line is not the end: {lines[-1:]}")
    # about one line per 0.2 s: the run's time bounds their number on both sides
    # about one line per 0.2 s: never more (the interval holds them back); fewer only by the
    # layouts' own 0.1 s between reports and the start-up before the first frame
    check(max(2, took / 0.2 / 3) <= len(lines) <= took / 0.2 + 2,
          f"{len(lines)} lines in {took:.2f} s at --progress 0.2")
    check(all(float(m.group(4)) > 0 for m in got if m), "frames/s 0")
    print(f"{len(lines)} progress lines in {took:.2f} s ({k} inputs); first: {lines[:1]}")
    for extra, want_summary in (([], True),  # shorter than one interval (10 s): no line, the summary
                                (["--quiet"], False), (["--log-level", "warning"], False),
                                (["--progress", "0"], True)):
        p = integrate(["s.h5"], "q.h5", "--overwrite", *extra)
        check(p.returncode == 0 and "frames/s, ETA" not in p.stderr, f"{extra}: progress lines: {p.stderr}")
        check(("frames (0 bad)" in p.stdout) == want_summary, f"{extra}: summary {p.stdout!r}")
    p = integrate(["s.h5"], "q.h5", "--overwrite", "-v")
    check(p.returncode == 0 and '"nbpt_rad":' in p.stderr, f"-v prints the settings: {p.stderr[:300]}")
    p = integrate(["s.h5"], "q.h5", "--overwrite", "--log-level", "loud")
    check(p.returncode == 2 and "loud" in p.stderr, f"--log-level loud: exit {p.returncode} {p.stderr}")
    p = integrate(["s.h5"], "q.h5", "--overwrite", "--progress", "-1")
    check(p.returncode == 2 and "--progress" in p.stderr, f"--progress -1: exit {p.returncode} {p.stderr}")

elif case == "pattern":
    os.makedirs("in")
    for k in range(3):
        r = run(["synth", "-o", f"in/run{k}.h5", "--poni", "g.poni", "--frames", str(5 + k), "--seed", str(k + 1)])
        assert r.returncode == 0, r.stderr
    ins = [f"in/run{k}.h5" for k in range(3)]
    p = integrate(ins, "{dir}/{stem}_azint.h5", "--error-model", "poisson")
    check(p.returncode == 0, f"pattern run: {p.stderr}")
    check(p.stdout.count("frames (0 bad)") == 3, f"one summary per output: {p.stdout}")
    for k in range(3):
        alone = integrate([ins[k]], f"alone{k}.h5", "--error-model", "poisson")
        check(alone.returncode == 0, alone.stderr)
        out = f"in/run{k}_azint.h5"
        check(os.path.exists(out), f"{out} missing: {sorted(os.listdir('in'))}")
        if os.path.exists(out):
            with h5py.File(out) as a, h5py.File(f"alone{k}.h5") as b:
                for key in ("I", "I_errors", "frame", "frame_status"):
                    check(same(a["entry/result/" + key][()], b["entry/result/" + key][()]),
                          f"{out}: {key} differs from the input's own run")
                cfg = json.loads(a["entry/reduction/input/configuration"][()])
                check(cfg["inputs"] == [ins[k]], f"{out}: inputs {cfg['inputs']}")
    before = sorted(os.listdir("."))
    p = integrate(ins, "same_{dir}.h5")
    check(p.returncode == 2 and "tells them apart" in p.stderr, f"one name for all: {p.returncode} {p.stderr}")
    p = integrate(ins, "{base}.h5")
    check(p.returncode == 2 and "{base}" in p.stderr, f"unknown key: {p.returncode} {p.stderr}")
    check(sorted(os.listdir(".")) == before, "a refused pattern wrote something")
    p = integrate(ins, "{index}.dat", "--frames", "0:1")
    check(p.returncode == 0 and all(os.path.exists(f"{k}.dat") for k in range(3)), f"{{index}}.dat: {p.stderr}")
    p = integrate(ins, "all.h5")
    with h5py.File("all.h5") as f:
        check(p.returncode == 0 and f["entry/result/I"].shape[0] == 18, "without a pattern: one output of all")

elif case == "dat":
    import logging
    import pyFAI
    logging.getLogger("pyFAI").setLevel(logging.ERROR)
    with h5py.File("s.h5") as f:
        frame = f["entry/data/data"][0].astype(np.float32)
    ai = pyFAI.load("g.poni")
    mask = np.zeros((NY, NX), np.uint8)
    mask[:4] = 1
    np.save("mask.npy", mask)
    np.save("dark.npy", np.zeros((NY, NX), np.float32))
    variants = [([], {}),
                (["--polarization", "0.95", "--normalization-factor", "2.5", "--mask", "mask.npy", "--dark",
                  "dark.npy", "--error-model", "poisson"],
                 {"polarization_factor": 0.95, "normalization_factor": 2.5, "mask": mask,
                  "dark": np.zeros((NY, NX), np.float32), "error_model": "poisson"})]
    for i, (opts, kw) in enumerate(variants):
        ref = f"py{i}.dat"
        ai.integrate1d(frame, 200, filename=ref, unit="q_nm^-1", dummy=4294967295, delta_dummy=0.5, **kw)
        p = integrate(["s.h5"], f"az{i}.dat", "--frames", "0:1", *opts)
        check(p.returncode == 0, f"{opts}: {p.stderr}")

        def header(path):
            return [ln for ln in open(path).read().splitlines() if ln.startswith("#")]

        def geometry(lines):
            js = []
            for ln in lines:
                js.append(ln[2:])
                if ln == "# }":
                    break
            return json.loads("\n".join(js)), "\n".join(lines[:len(js)])

        mine, theirs = header(f"az{i}.dat"), header(ref)
        (gm, tm), (gt, tt) = geometry(mine), geometry(theirs)
        check(gm == gt, f"{opts}: geometry {gm} vs pyFAI {gt}")
        check(tm == tt, f"{opts}: the geometry's lines differ:\n{tm}\npyFAI:\n{tt}")
        keys = ("# Mask applied:", "# Dark current applied:", "# Flat field applied:", "# Polarization factor:",
                "# Normalization factor:")
        for k in keys:
            a = [ln for ln in mine if ln.startswith(k)]
            b = [ln for ln in theirs if ln.startswith(k)]
            check(a == b and len(b) == 1, f"{opts}: {a} vs pyFAI {b}")
        check(any(ln.startswith("# --> ") for ln in mine), "no '# --> NAME' line")
        a = np.loadtxt(f"az{i}.dat")
        b = np.loadtxt(ref)
        check(a.shape == b.shape and np.allclose(a[:, 0], b[:, 0], rtol=1e-6), f"{opts}: columns {a.shape} {b.shape}")
        print(f"{opts or 'defaults'}: {len(mine)} header lines, pyFAI {len(theirs)}")
finish("batch " + case)
