#!/usr/bin/env python3
"""azstream integrate end to end: layouts agree bit for bit (serial vs threads with 1, 2, 3
workers) on several option combinations, output structure (h5py), text output, JSON config,
multiple inputs, --frames, and the error paths: usage errors (exit 2), missing files / bad
PONI (exit 1, message naming the file), a corrupt frame (exit 1, message naming frame and
file, output valid with the frames before it) and --skip-bad (NaN row, counted).
usage: test_cli.py AZSTREAM WORKDIR"""
import json, os, shutil, subprocess, sys
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
try:
    import h5py, hdf5plugin  # noqa: F401
except ImportError:
    sys.exit(77)
import make_stack
from e2e import check, finish, fresh_workdir

az = os.path.abspath(sys.argv[1])
wd = fresh_workdir(sys.argv[2])


def run(*args):
    p = subprocess.run([az, "integrate", *map(str, args)], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def read_I(path, key="I"):
    with h5py.File(path, "r") as f:
        return f["entry/result/" + key][()]


NY, NX = 120, 100
make_stack.write_poni("g.poni", NY, NX)
data = make_stack.write_stack("s.h5", 12, NY, NX)
make_stack.write_stack("s2.h5", 5, NY, NX, seed=7)
rng = np.random.default_rng(3)
np.save("mask.npy", (rng.random((NY, NX)) < 0.05).astype(np.uint8))
np.save("dark.npy", (rng.random((NY, NX)) * 3).astype(np.float32))
np.save("flat.npy", (0.9 + 0.2 * rng.random((NY, NX))).astype(np.float32))
np.save("badmask.npy", np.zeros((NY + 1, NX), np.uint8))

combos = {
    "bbox1d": ["--method", "bbox", "--npt", 300],
    "full2d_err": ["--method", "full", "--npt", 80, "--npt-azim", 36, "--unit", "2th_deg",
                   "--error-model", "poisson"],
    "no_corr": ["--method", "no", "--unit", "r_mm", "--npt", 200, "--polarization", 0.95,
                "--dummy", 4294967295, "--mask", "mask.npy", "--dark", "dark.npy",
                "--flat", "flat.npy", "--radial-range", "2:20"],
    "bbox_nosa_az": ["--npt", 150, "--no-solid-angle", "--azimuth-range", "-90:45",
                     "--error-model", "poisson"],
}
for name, opts in combos.items():
    ref = None
    # threads: default feeding, then each worker reading its own chunks, then a reader thread,
    # then workers mapping their chunks
    for lay, w, rd in [("serial", 0, []), ("threads", 1, []), ("threads", 2, ["--read", "self"]),
                       ("threads", 3, ["--read", "reader"]), ("threads", 2, ["--read", "map"])]:
        out = "%s_%s%d%s.h5" % (name, lay, w, rd[1] if rd else "")  # one output per run
        rc, so, se = run("s.h5", "--poni", "g.poni", *opts, "--layout", lay, "--workers", w, *rd,
                         "-o", out)
        check(rc == 0, "%s %s %d: exit %d: %s" % (name, lay, w, rc, se.strip()))
        if rc:
            continue
        I = read_I(out)
        check(I.shape[0] == 12, "%s: %d rows" % (name, I.shape[0]))
        if ref is None:
            ref = (I, read_I(out, "I_errors") if "--error-model" in opts else None)
        else:
            check(np.array_equal(I, ref[0], equal_nan=True), "%s: %s/%d I differs from serial" % (name, lay, w))
            if ref[1] is not None:
                check(np.array_equal(read_I(out, "I_errors"), ref[1], equal_nan=True),
                      "%s: %s/%d I_errors differs" % (name, lay, w))

# structure
with h5py.File("full2d_err_serial0.h5", "r") as f:
    r = f["entry/result"]
    check(r["I"].shape == (12, 36, 80), "2D shape %r" % (r["I"].shape,))
    check(r["radial_axis"].attrs["pyfai_unit"] in ("2th_deg", b"2th_deg") and
          r["radial_axis"].attrs["units"] in ("degree", b"degree"), "units attrs")
    cfg = json.loads(f["entry/reduction/input/configuration"][()])
    check(cfg["version"] == 5 and cfg["nbpt_rad"] == 80 and cfg["nbpt_azim"] == 36 and cfg["method"][0] == "full",
          "config JSON (a pyFAI WorkerConfig v5)")
    check(int(r.attrs["frames_written"]) == 12, "frames_written")

# --frames, multiple inputs, text, config
rc, _, se = run("s.h5", "--poni", "g.poni", "--npt", 300, "--frames", "2:7", "-o", "fr.h5")
check(rc == 0 and np.array_equal(read_I("fr.h5"), read_I("bbox1d_serial0.h5")[2:7]), "--frames 2:7 " + se)
rc, _, se = run("s.h5", "s2.h5", "--poni", "g.poni", "--npt", 300, "--layout", "threads", "-o", "multi.h5")
run("s2.h5", "--poni", "g.poni", "--npt", 300, "-o", "s2only.h5")
if rc == 0:
    I = read_I("multi.h5")
    check(I.shape[0] == 17 and np.array_equal(I[:12], read_I("bbox1d_serial0.h5"))
          and np.array_equal(I[12:], read_I("s2only.h5")), "multiple inputs concatenated")
    check(list(read_I("multi.h5", "frame")) == list(range(17)), "running frame numbers")
else:
    check(False, "multiple inputs: " + se)
rc, _, se = run("s.h5", "--poni", "g.poni", "--npt", 300, "--frames", ":3", "-o", "t.dat")
check(rc == 0 and all(os.path.exists("t_%05d.dat" % k) for k in range(3)), "text output files " + se)
if rc == 0:
    a = np.loadtxt("t_00001.dat")
    check(a.shape == (300, 2) and np.allclose(a[:, 1], read_I("bbox1d_serial0.h5")[1], rtol=1e-6, atol=1e-30),
          "text columns match the h5 row")
pyfai_cfg = {"poni": "g.poni", "nbpt_rad": 200, "unit": "r_mm", "method": ["no", "histogram", "cython"],
             "polarization_factor": 0.95, "do_dummy": True, "val_dummy": 4294967295, "delta_dummy": 0,
             "do_mask": True, "mask_file": "mask.npy", "do_dark": True, "dark_current": "dark.npy",
             "do_flat": True, "flat_field": "flat.npy", "do_radial_range": True,
             "radial_range_min": 2, "radial_range_max": 20, "do_solid_angle": True}
json.dump(pyfai_cfg, open("cfg.json", "w"))
rc, _, se = run("s.h5", "--config", "cfg.json", "-o", "cfg.h5")
check(rc == 0 and np.array_equal(read_I("cfg.h5"), read_I("no_corr_serial0.h5")), "pyFAI JSON config " + se)
json.dump({"npt": 300, "method": "bbox"}, open("cfg2.json", "w"))
rc, _, se = run("s.h5", "--config", "cfg2.json", "--poni", "g.poni", "--npt", 150, "-o", "cfg2.h5")
check(rc == 0 and read_I("cfg2.h5").shape == (12, 150), "command line overrides config " + se)

# usage and input errors
for args, code, word in [
    (["s.h5", "--poni", "g.poni", "--bogus", "-o", "x.h5"], 2, "--bogus"),
    (["s.h5", "--poni", "g.poni", "--npt", "abc", "-o", "x.h5"], 2, "npt"),
    (["s.h5", "--poni", "g.poni", "--method", "weird", "-o", "x.h5"], 2, "weird"),
    (["s.h5", "--poni", "g.poni", "--read", "sideways", "-o", "x.h5"], 2, "--read"),
    (["s.h5", "--poni", "g.poni"], 2, "output"),
    (["s.h5", "-o", "x.h5"], 2, "poni"),
    (["--poni", "g.poni", "-o", "x.h5"], 2, "INPUT"),
    (["nope.h5", "--poni", "g.poni", "-o", "x.h5"], 1, "nope.h5"),
    (["s.h5", "--poni", "nope.poni", "-o", "x.h5"], 1, "nope.poni"),
    (["s.h5", "--poni", "g.poni", "--mask", "badmask.npy", "-o", "x.h5"], 1, "shape"),
    (["s.h5", "--poni", "g.poni", "-o", "x.tiff"], 1, "x.tiff"),
]:
    rc, so, se = run(*args)
    check(rc == code and word in se, "%r: exit %d (want %d), stderr %r" % (args, rc, code, se.strip()))
with open("bad.poni", "w") as f:
    f.write("poni_version: 2\nDistance: banana\n")
rc, _, se = run("s.h5", "--poni", "bad.poni", "-o", "x.h5")
check(rc == 1 and "bad.poni" in se, "bad PONI: %d %r" % (rc, se))

# corrupt frame 5
shutil.copy("s.h5", "c.h5")
make_stack.corrupt_chunk("c.h5", 5)
ref = read_I("bbox1d_serial0.h5")
for lay, w in [("serial", 0), ("threads", 1), ("threads", 3)]:
    out = "c_%s%d.h5" % (lay, w)
    rc, so, se = run("c.h5", "--poni", "g.poni", "--npt", 300, "--layout", lay, "--workers", w, "-o", out)
    check(rc == 1 and "frame 5" in se and "c.h5" in se, "corrupt %s/%d: exit %d, %r" % (lay, w, rc, se.strip()))
    try:
        with h5py.File(out, "r") as f:
            r = f["entry/result"]
            check(r["I"].shape[0] == 5 and int(r.attrs["frames_written"]) == 5,
                  "corrupt %s/%d: %d rows" % (lay, w, r["I"].shape[0]))
            check(np.array_equal(r["I"][()], ref[:5]), "corrupt %s/%d: rows before differ" % (lay, w))
    except OSError as e:
        check(False, "corrupt %s/%d: output not readable: %s" % (lay, w, e))
    out = "cs_%s%d.h5" % (lay, w)
    rc, so, se = run("c.h5", "--poni", "g.poni", "--npt", 300, "--layout", lay, "--workers", w,
                     "--skip-bad", "-o", out)
    check(rc == 0 and "1 bad" in so, "skip-bad %s/%d: exit %d %r %r" % (lay, w, rc, so, se))
    if rc == 0:
        I = read_I(out)
        check(I.shape[0] == 12 and np.isnan(I[5]).all() and np.array_equal(np.delete(I, 5, 0), np.delete(ref, 5, 0)),
              "skip-bad %s/%d: rows" % (lay, w))
        with h5py.File(out, "r") as f:
            check(int(f["entry/result"].attrs["frames_bad"]) == 1, "frames_bad attr")

finish("cli")
