#!/usr/bin/env python3
"""Sink output checked with h5py / numpy / fabio (independent readers): NeXus structure,
attributes, units, values, frames_written; text files; azs_array_load against arrays
written by numpy, h5py and fabio."""
import json, os, subprocess, sys, tempfile
import numpy as np

tool = sys.argv[1]
try:
    import h5py
except ImportError:
    sys.exit(77)
d = tempfile.mkdtemp()
fails = []

def check(c, msg):
    if not c:
        fails.append(msg)
        print("FAIL:", msg)

def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)

# 1D with errors, 300 rows: several batches
p = os.path.join(d, "a.h5")
subprocess.check_call([tool, "write1d", p, "300"])
with h5py.File(p, "r") as f:
    check(s(f.attrs["default"]) == "entry", "root default")
    e = f["entry"]
    check(s(e.attrs["NX_class"]) == "NXentry", "NXentry")
    r = e["result"]
    check(s(r.attrs["NX_class"]) == "NXdata", "NXdata")
    check(s(r.attrs["signal"]) == "I", "signal")
    check([s(a) for a in r.attrs["axes"]] == [".", "radial_axis"], "axes %r" % (r.attrs["axes"],))
    check(int(r.attrs["radial_axis_indices"]) == 1, "radial_axis_indices")
    check(s(r.attrs["interpretation"]) == "spectrum", "1D rows are spectra")
    check(s(e["definition"][()]) == "NXazint1d", "definition")
    I = r["I"][()]
    check(I.shape == (300, 50) and I.dtype == np.float32, "I shape/dtype %r %r" % (I.shape, I.dtype))
    rows = np.arange(300)[:, None] * 1000.0 + np.arange(50)[None, :] + 0.25
    rows[2] = np.nan
    check(np.array_equal(I, rows.astype(np.float32), equal_nan=True), "I values")
    E = r["I_errors"][()]
    want = np.tile(0.5 * np.arange(50), (300, 1)); want[2] = np.nan
    check(np.array_equal(E, want.astype(np.float32), equal_nan=True), "I_errors values")
    check(s(r["radial_axis"].attrs["units"]) == "1/nm", "NeXus units")
    check(s(r["radial_axis"].attrs["pyfai_unit"]) == "q_nm^-1", "pyFAI unit")
    check(s(r["radial_axis"].attrs["long_name"]) == "q", "long_name")
    check(np.allclose(r["radial_axis"][()], 0.1 * (np.arange(50) + 0.5)), "radial values")
    check(np.allclose(r["radial_axis_edges"][()], 0.1 * np.arange(51)), "radial edges")
    check(int(r.attrs["frames_written"]) == 300 and int(r.attrs["frames_bad"]) == 1, "frames_written/bad")
    check(list(r["frame"][()]) == list(range(100, 400)), "frame numbers")
    st = r["frame_status"][()]
    check(st[2] != 0 and (st[:2] == 0).all() and (st[3:] == 0).all(), "frame_status")
    check(r["I"].chunks == (1, 50) and r["I"].maxshape[0] is None, "chunking/extendible")
    pr = e["reduction"]
    check(s(pr.attrs["NX_class"]) == "NXprocess", "NXprocess")
    check(s(pr["program"][()]) == "azstream" and s(pr["version"][()]) == "test", "program/version")
    check(s(pr["input"].attrs["NX_class"]) == "NXparameters", "NXparameters")
    check(json.loads(s(pr["input/configuration"][()])) == {"npt": 50}, "configuration JSON")
    check(len(s(pr["date"][()])) >= 19, "date")

# 2D
p = os.path.join(d, "b.h5")
subprocess.check_call([tool, "write2d", p, "3"])
with h5py.File(p, "r") as f:
    r = f["entry/result"]
    check(r["I"].shape == (3, 4, 6), "2D shape")
    check([s(a) for a in r.attrs["axes"]] == [".", "azimuthal_axis", "radial_axis"], "2D axes")
    check(int(r.attrs["azimuthal_axis_indices"]) == 1 and int(r.attrs["radial_axis_indices"]) == 2, "2D indices")
    check(s(r.attrs["interpretation"]) == "image", "2D rows are images")
    check(s(f["entry/definition"][()]) == "NXazint2d", "2D definition")
    want = np.arange(3)[:, None, None] * 1000.0 + np.arange(4)[None, :, None] * 10 + np.arange(6)[None, None, :]
    check(np.array_equal(r["I"][()], want.astype(np.float32)), "2D values")
    check("I_errors" not in r, "no I_errors without error model")
    check(s(r["azimuthal_axis"].attrs["units"]) == "degree", "azimuthal units")
    check(s(r["azimuthal_axis"].attrs["pyfai_unit"]) == "chi_deg", "azimuthal pyFAI unit")

# text: several rows -> one file per row; one row -> the file itself
p = os.path.join(d, "t.dat")
subprocess.check_call([tool, "write1d", p, "4"])
for k in range(4):
    fn = os.path.join(d, "t_%05d.dat" % k)
    check(os.path.exists(fn), "text file %s" % fn)
    a = np.loadtxt(fn)
    check(a.shape == (50, 3), "text columns")
    if k != 2:
        check(np.allclose(a[:, 1], k * 1000 + np.arange(50) + 0.25) and np.allclose(a[:, 0], 0.1 * (np.arange(50) + 0.5)), "text values")
    else:
        check(np.isnan(a[:, 1]).all(), "bad row NaN in text")
p = os.path.join(d, "one.xy")
subprocess.check_call([tool, "write1d", p, "1"])
check(os.path.exists(p) and np.loadtxt(p).shape == (50, 3), "single text file")
check(subprocess.call([tool, "write1d", os.path.join(d, "x.tiff"), "1"], stderr=subprocess.DEVNULL) != 0, "unknown extension refused")

# arrays
def load(spec):
    out = subprocess.run([tool, "load", spec], capture_output=True, text=True)
    if out.returncode:
        return None, out.stderr
    v = out.stdout.split()
    ny, nx = int(v[0]), int(v[1])
    return np.array(v[2:], dtype=np.float64).reshape(ny, nx), ""

rng = np.random.default_rng(1)
for dt in ["u1", "<u2", ">i4", "<f4", "<f8", "?"]:
    a = (rng.random((7, 5)) * 100).astype(dt)
    fn = os.path.join(d, "m.npy"); np.save(fn, a)
    got, err = load(fn)
    check(got is not None and np.allclose(got, a.astype(np.float32)), "npy %s %s" % (dt, err))
a = rng.random((1, 6, 4)).astype(np.float32)
np.save(os.path.join(d, "m3.npy"), a)
got, err = load(os.path.join(d, "m3.npy"))
check(got is not None and np.allclose(got, a[0]), "npy 3D one frame " + err)
np.save(os.path.join(d, "f.npy"), np.asfortranarray(rng.random((3, 4))))
got, err = load(os.path.join(d, "f.npy"))
check(got is None and "C order" in err, "fortran npy refused: " + err)
with open(os.path.join(d, "trunc.npy"), "wb") as f:
    f.write(open(os.path.join(d, "m.npy"), "rb").read()[:-10])
got, err = load(os.path.join(d, "trunc.npy"))
check(got is None and "shorter" in err, "truncated npy: " + err)
with h5py.File(os.path.join(d, "m.h5"), "w") as f:
    f["entry/instrument/pixel_mask"] = (rng.random((9, 8)) > 0.5).astype(np.uint32)
    f["other/flat"] = rng.random((9, 8))
    ref_mask = f["entry/instrument/pixel_mask"][()]; ref_flat = f["other/flat"][()]
got, err = load(os.path.join(d, "m.h5") + ":/other/flat")
check(got is not None and np.allclose(got, ref_flat.astype(np.float32)), "h5:dataset " + err)
got, err = load(os.path.join(d, "m.h5:/entry/instrument/pixel_mask"))
check(got is not None and np.array_equal(got, ref_mask), "h5 mask " + err)
got, err = load(os.path.join(d, "m.h5:/nope"))
check(got is None and "nope" in err, "missing dataset named: " + err)
try:
    import fabio
    a = (rng.random((5, 9)) * 1000).astype(np.float32)
    fabio.edfimage.EdfImage(data=a).write(os.path.join(d, "d.edf"))
    got, err = load(os.path.join(d, "d.edf"))
    check(got is not None and np.allclose(got, a), "edf " + err)
except ImportError:
    pass
got, err = load(os.path.join(d, "missing.npy"))
check(got is None and "missing.npy" in err, "missing file named")
print("sink tests:", "FAILED %d" % len(fails) if fails else "ok")
sys.exit(1 if fails else 0)
