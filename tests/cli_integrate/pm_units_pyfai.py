"""azstream integrate against pyFAI 2026.9 run here, for the pieces of issue 15 that are
the input's and the units': the DECTRIS master's pixel_mask applied by default, pyFAI's
other radial units, and int64 / uint64 frames.

Scenarios (the last argument picks one; each is its own ctest test):
  pixelmask  a stack with /entry/instrument/detector/detectorSpecific/pixel_mask written
             by h5py (bits anywhere in the word; the masked pixels hold huge values): by
             default they do not contribute (pyFAI given the same mask explicitly), with
             --mask the pixel mask joins the user's, --no-pixel-mask restores them; 1D and
             2D; the stored configuration says so; layout procs builds the same integrator
             (its workers are told which inputs' masks were applied); the real DECTRIS
             master (external links) records its (empty) mask
  units      every radial unit added (r_m, d_*, d*2_*, log(1+q), arcsinh(q)), splits no /
             bbox / full, 1D and 2D; q_m^-1 (not a pyFAI unit) refused with the list
  int64      int64 and uint64 frames (pyFAI converts them to float32), 1D and 2D
Acceptance: radial (and azimuthal) centres within 1e-6 relative, I within 1e-5 relative in
every bin with counts, empty bins equal.

usage: pm_units_pyfai.py AZSTREAM WORKDIR DATA_DIR pixelmask|units|int64"""
import json
import logging
import os
import subprocess
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import h5py  # noqa: E402
import pyFAI  # noqa: E402,F401
from pyFAI.detectors import Detector  # noqa: E402
from pyFAI.integrator.azimuthal import AzimuthalIntegrator  # noqa: E402

from e2e import check, finish, fresh_workdir, pyfai_garbage  # noqa: E402

logging.getLogger("pyFAI").setLevel(logging.ERROR)
AZ = os.path.abspath(sys.argv[1])
DATA = os.path.abspath(sys.argv[3])
WHAT = sys.argv[4]
wd = fresh_workdir(os.path.join(sys.argv[2], WHAT))
TOL_RAD, TOL_I = 1e-6, 1e-5
MASK_PATH = "entry/instrument/detector/detectorSpecific/pixel_mask"
NY, NX = 90, 110
worst = {}

# A generic detector (no dummy, no gap mask of its own), beam just off the detector (pixels
# at the beam centre in bbox are the defaults helper's corner, tested there), tilted.
PONI = """poni_version: 2
Detector: Detector
Detector_config: {"pixel1": 0.000172, "pixel2": 0.000150, "max_shape": [%d, %d]}
Distance: 0.11
Poni1: -0.00431
Poni2: 0.00857
Rot1: 0.021
Rot2: -0.013
Rot3: 0.05
Wavelength: 1.0e-10
""" % (NY, NX)
with open("g.poni", "w") as f:
    f.write(PONI)


def make_ai():
    det = Detector(0.000172, 0.000150, max_shape=(NY, NX))
    return AzimuthalIntegrator(dist=0.11, poni1=-0.00431, poni2=0.00857, rot1=0.021, rot2=-0.013,
                               rot3=0.05, detector=det, wavelength=1.0e-10)


def rings(dtype=np.uint32, seed=1):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:NY, 0:NX]
    r = np.hypot(y - 42.5, x - 57.1)
    base = 80 + 600 * np.exp(-((r % 19) - 9) ** 2 / 5.0)
    return rng.poisson(base).astype(dtype)


def write_stack(path, frame, pixel_mask=None):
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data/data", data=frame[None], chunks=(1,) + frame.shape)
        if pixel_mask is not None:
            f.create_dataset(MASK_PATH, data=pixel_mask)


def integrate(inp, *opts, out="out.h5"):
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.run([AZ, "integrate", inp, "--quiet", "-o", out, "--poni", "g.poni", *map(str, opts)],
                       capture_output=True, text=True)
    if p.returncode:
        return None, p.stderr.strip()
    with h5py.File(out, "r") as f:
        r = f["entry/result"]
        cfg = json.loads(f["entry/reduction/input/configuration"][()])
        return (r["radial_axis"][()], r["azimuthal_axis"][()] if "azimuthal_axis" in r else None, r["I"][0], cfg), None


def compare(label, inp, opts, ref):
    got, err = integrate(inp, *opts)
    if got is None:
        check(False, "%s: azstream failed: %s" % (label, err))
        return None
    rad, azim, I, cfg = got
    refI = np.asarray(ref.intensity)
    if I.shape != refI.shape:
        check(False, "%s: shape %s, pyFAI %s" % (label, I.shape, refI.shape))
        return None
    e = {"radial": np.max(np.abs(rad - ref.radial) / np.abs(ref.radial))}
    if azim is not None:
        e["azim"] = np.max(np.abs(azim - ref.azimuthal) / np.max(np.abs(ref.azimuthal)))
    cnt = np.asarray(ref.count).reshape(refI.shape)
    full = cnt > 0
    garbage = pyfai_garbage(cnt, label)
    nz = full & (refI != 0)
    rel = np.abs(I[nz] - refI[nz]) / np.abs(refI[nz])
    e["I"] = rel.max() if rel.size else 0.0
    empty = ~full & ~garbage
    empty_ok = np.array_equal(I[empty], refI[empty])
    bad = e["radial"] > TOL_RAD or e.get("azim", 0) > TOL_RAD or e["I"] > TOL_I or not empty_ok or \
        not np.all(np.isfinite(I))
    print("%s %-50s %s%s" % ("FAIL" if bad else "ok  ", label, " ".join("%s=%.2e" % kv for kv in e.items()),
                             "" if empty_ok else " (empty bins differ)"), flush=True)
    if not empty_ok:  # say which bins, so that a rare failure can be told apart from pyFAI's garbage
        diff = np.flatnonzero(empty & ~((I == refI) | (np.isnan(I) & np.isnan(refI))))
        for b in diff[:8]:
            print("     bin %s: azstream I=%r, pyFAI I=%r count=%r" % (np.unravel_index(b, I.shape), float(I.flat[b]),
                                                                   float(refI.flat[b]), float(cnt.flat[b])), flush=True)
    check(not bad, "%s: %s" % (label, " ".join("%s=%.2e" % kv for kv in e.items())))
    for k, v in e.items():
        worst[k] = max(worst.get(k, 0), v)
    return got


METHODS = {"no": ("no", "csr", "cython"), "bbox": ("bbox", "csr", "cython"), "full": ("full", "csr", "cython")}


def pyfai(frame, split, npt, npt_azim=0, **kw):
    ai = make_ai()
    if npt_azim:
        return ai.integrate2d_ng(frame, npt, npt_azim, method=METHODS[split], **kw)
    return ai.integrate1d_ng(frame, npt, method=METHODS[split], **kw)


def full2d_guard(frame, split, npt_azim, mask=None):
    """pyFAI 2026.9's 2D full-split builder starts from an uninitialised buffer, so the
    weights of the first pixel it processes are garbage (doc/integration.md): make that
    pixel a dummy for both sides (skipped per frame, still seen by the builders). Returns
    the frame, our extra options and pyFAI's extra keywords."""
    if split != "full" or not npt_azim:
        return frame, [], {}
    first = int(np.flatnonzero(mask.ravel() == 0)[0]) if mask is not None else 0
    frame = frame.copy()
    frame.flat[first] = 7
    return frame, ["--dummy", 7], {"dummy": 7}


def scenario_pixelmask():
    rng = np.random.default_rng(5)
    frame = rings()
    pm = np.zeros((NY, NX), np.uint32)
    sel = rng.uniform(size=pm.shape) < 0.04
    pm[sel] = 1 << rng.integers(0, 32, size=int(sel.sum())).astype(np.uint32)
    pm[20:23, :] = 0x80000000  # a band: the automatic range changes with it
    pm[0, 0] = 0  # pixel 0 unmasked by every mask below: full2d_guard's pixel for all
    masked = pm != 0
    bad = frame.copy()
    bad[masked] = 5000  # ~10x the rings: any bin they reached would show them (full 2D
    # weights differ from pyFAI's float32 stacking by ~1e-7: more contrast amplifies that)
    write_stack("pm.h5", bad, pm)
    um = (rng.uniform(size=pm.shape) < 0.03).astype(np.uint8)
    um[0, 0] = 0
    np.save("user_mask.npy", um)
    user = np.load("user_mask.npy") != 0
    for split in ("no", "bbox", "full"):
        for npt_azim in (0, 24):
            dim = "2D" if npt_azim else "1D"
            o = ["--method", split, "--npt", 80, "--npt-azim", npt_azim]
            fr, extra, kw = full2d_guard(bad, split, npt_azim)
            write_stack("pm.h5", fr, pm)
            o += extra
            # pyFAI given the pixel mask explicitly: the masked pixels do not contribute
            got = compare("pixel mask applied %s %s" % (split, dim), "pm.h5", o,
                          pyfai(fr, split, 80, npt_azim, mask=masked, **kw))
            if got and split == "bbox" and not npt_azim:
                note = got[3].get("pixel_mask", "")
                check(note.startswith("applied from") and "pm.h5" in note and
                      ("%d pixels masked" % int(masked.sum())) in note,
                      "stored configuration records the pixel mask: %r" % note)
            compare("pixel mask + --mask %s %s" % (split, dim), "pm.h5", o + ["--mask", "user_mask.npy"],
                    pyfai(fr, split, 80, npt_azim, mask=masked | user, **kw))
            got = compare("--no-pixel-mask %s %s" % (split, dim), "pm.h5", o + ["--no-pixel-mask"],
                          pyfai(fr, split, 80, npt_azim, **kw))
            if got and split == "bbox" and not npt_azim:
                check(got[3].get("pixel_mask") == "not applied (--no-pixel-mask)",
                      "stored configuration records --no-pixel-mask: %r" % got[3].get("pixel_mask"))
                check(got[3].get("no_pixel_mask") is True or
                      any(isinstance(v, dict) and v.get("no_pixel_mask") is True for v in got[3].values()),
                      "the settings keep --no-pixel-mask (a re-run turns it off too)")
    write_stack("pm.h5", bad, pm)
    # layout procs: workers build the parent's integrator (told which masks were applied)
    a, err = integrate("pm.h5", "--layout", "threads", "--workers", 2, out="thr.h5")
    b, err2 = integrate("pm.h5", "--layout", "procs", "--workers", 2, out="procs.h5")
    check(a is not None and b is not None and np.array_equal(a[2], b[2]),
          "layout procs equals layout threads with the pixel mask %s %s" % (err or "", err2 or ""))
    # two inputs, one without a pixel mask: the mask of the other applies to both
    write_stack("nomask.h5", frame)
    a, err = integrate("nomask.h5", "pm.h5", out="two.h5")
    if a is not None:
        with h5py.File("two.h5", "r") as f:
            I = f["entry/result/I"][()]
        ref = pyfai(frame, "bbox", 1000, mask=masked)
        check(np.allclose(I[0], ref.intensity, rtol=1e-5, atol=0), "two inputs: the first frame is "
              "integrated with the second input's pixel mask too")
    else:
        check(False, "two inputs: " + err)
    # a pixel mask of the wrong shape is an error naming it (and --no-pixel-mask goes past it)
    write_stack("wrong.h5", frame, np.zeros((NX, NY), np.uint32))
    got, err = integrate("wrong.h5")
    check(got is None and "pixel_mask" in err and "--no-pixel-mask" in err, "wrong shape refused: " + (err or ""))
    got, err = integrate("wrong.h5", "--no-pixel-mask")
    check(got is not None, "--no-pixel-mask ignores a bad pixel_mask: " + (err or ""))
    # the real DECTRIS master (external data links): its pixel_mask is found and applied
    master = os.path.join(DATA, "real", "arina_master_external_link", "test_00_master.h5")
    p = subprocess.run([AZ, "integrate", master, "--quiet", "-o", "arina.h5", "--poni", "arina.poni", "--npt", 50],
                       capture_output=True, text=True, input=None) if False else None
    with open("arina.poni", "w") as f:
        f.write(PONI.replace("[%d, %d]" % (NY, NX), "[192, 192]"))
    p = subprocess.run([AZ, "integrate", master, "--quiet", "-o", "arina.h5", "--poni", "arina.poni",
                        "--npt", "50"], capture_output=True, text=True)
    if p.returncode == 0:
        with h5py.File("arina.h5", "r") as f:
            cfg = json.loads(f["entry/reduction/input/configuration"][()])
        check("0 pixels masked" in cfg.get("pixel_mask", ""), "real master: %r" % cfg.get("pixel_mask"))
    else:
        check(False, "real master: " + p.stderr.strip())


NEW_UNITS = ["r_m", "d_m", "d_nm", "d_A", "d*2_nm^-2", "d*2_A^-2", "log(1+q.nm)_None",
             "log(1+q.A)_None", "arcsinh(q.nm)_None", "arcsinh(q.A)_None"]


def scenario_units():
    frame = rings()
    write_stack("u.h5", frame)
    for unit in NEW_UNITS:
        for split in ("no", "bbox", "full"):
            for npt_azim in (0, 18):
                fr, extra, kw = full2d_guard(frame, split, npt_azim)
                write_stack("u.h5", fr)
                o = ["--method", split, "--npt", 70, "--npt-azim", npt_azim, "--unit", unit] + extra
                compare("%-18s %-4s %s" % (unit, split, "2D" if npt_azim else "1D"), "u.h5", o,
                        pyfai(fr, split, 70, npt_azim, unit=unit, **kw))
    write_stack("u.h5", frame)
    # a radial range in the unit (d decreases with q: the range is in d)
    ref = pyfai(frame, "bbox", 60, unit="d_A", radial_range=(6.0, 30.0))
    compare("d_A radial range 6:30", "u.h5", ["--method", "bbox", "--npt", 60, "--unit", "d_A",
                                              "--radial-range", "6:30"], ref)
    # the 2D azimuthal unit: chi_rad (pyFAI's unit tuple), the range and the axis in radians
    for split in ("no", "bbox", "full"):
        for rng_ in (None, (-2.0, 1.5)):
            fr, extra, kw = full2d_guard(frame, split, 18)
            write_stack("u.h5", fr)
            o = ["--method", split, "--npt", 70, "--npt-azim", 18, "--unit", "2th_deg", "--unit-azim", "chi_rad"]
            if rng_:
                o += ["--azimuth-range", "%r:%r" % rng_]
                kw["azimuth_range"] = rng_
            got = compare("chi_rad %-4s range %s" % (split, rng_), "u.h5", o + extra,
                          pyfai(fr, split, 70, 18, unit=("2th_deg", "chi_rad"), **kw))
            if got and split == "no" and rng_:
                with h5py.File("out.h5", "r") as f:
                    check(f["entry/result/azimuthal_axis"].attrs["pyfai_unit"] in ("chi_rad", b"chi_rad") and
                          f["entry/result/azimuthal_axis"].attrs["units"] in ("rad", b"rad"),
                          "the azimuthal axis says chi_rad")
                check(got[3].get("azstream", {}).get("unit_azim") == "chi_rad",
                      "the settings keep chi_rad: %r" % got[3].get("azstream"))
    write_stack("u.h5", frame)
    got, err = integrate("u.h5", "--unit-azim", "chi")
    check(got is None and "chi_rad" in err, "--unit-azim chi refused: %s" % err)
    got, err = integrate("u.h5", "--unit", "q_m^-1")
    check(got is None and "d*2_A^-2" in err and "q_nm^-1" in err, "q_m^-1 refused, listing pyFAI's units: %s" % err)


def scenario_int64():
    for dt in (np.int64, np.uint64):
        frame = rings(dt, seed=3)
        if dt == np.int64:
            frame[5, 7] = -3
            frame[6, 9] = 2 ** 40 + 1  # rounds in float32, as pyFAI's conversion does
        else:
            frame[6, 9] = 2 ** 63 + 2 ** 40 + 12345
        name = np.dtype(dt).name
        for split in ("no", "bbox", "full"):
            for npt_azim in (0, 20):
                fr, extra, kw = full2d_guard(frame, split, npt_azim)
                write_stack("i64.h5", fr)
                compare("%s %s %s" % (name, split, "2D" if npt_azim else "1D"), "i64.h5",
                        ["--method", split, "--npt", 64, "--npt-azim", npt_azim, "--error-model", "poisson"] + extra,
                        pyfai(fr, split, 64, npt_azim, error_model="poisson", **kw))
        for layout in ("serial", "threads"):
            a, err = integrate("i64.h5", "--layout", layout, out="l_%s.h5" % layout)
            check(a is not None, "%s layout %s: %s" % (name, layout, err))


{"pixelmask": scenario_pixelmask, "units": scenario_units, "int64": scenario_int64}[WHAT]()
print("worst: " + " ".join("%s=%.2e" % kv for kv in sorted(worst.items())))
finish("pm_units_pyfai " + WHAT)
