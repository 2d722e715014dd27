"""azstream integrate's options that follow pyFAI's, against pyFAI 2026.9 run here.

Scenarios (the last argument picks one, so each is its own ctest test):
  empty     --empty V (pyFAI's ai.empty): I and sigma of bins no pixel reaches are V, 1D
            and 2D, splits no / bbox / full, error models none / poisson / azimuthal
  tiff      a mask and a dark as TIFF (and the dark as FILE.h5::/path) give the profile
            the same arrays give as .npy, and pyFAI's with those arrays
  chi0      --chi-disc-at-0 (pyFAI's setChiDiscAtZero; config chi_discontinuity_at_0):
            1D and 2D, each split, azimuth ranges none / crossing 0 / crossing 360 /
            reversed, the beam on the detector so pixels straddle the cut
  halfopen  ranges with one end left out (5:, :20, -90:, :90): the automatic end, i.e.
            pyFAI given that end as its own automatic range puts it
Acceptance: radial (and azimuthal) centres within 1e-6 relative, I and sigma within 1e-5
relative in every bin pyFAI counts pixels in, the other bins equal.

usage: options_pyfai.py AZSTREAM WORKDIR empty|tiff|chi0|halfopen"""
import logging
import os
import subprocess
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import h5py  # noqa: E402
import pyFAI  # noqa: E402

from e2e import check, finish, fresh_workdir, pyfai_garbage  # noqa: E402

logging.getLogger("pyFAI").setLevel(logging.ERROR)
AZ = os.path.abspath(sys.argv[1])
WHAT = sys.argv[3]
wd = fresh_workdir(os.path.join(sys.argv[2], WHAT))
TOL_RAD, TOL_I = 1e-6, 1e-5
worst = {}
METHODS = {"no": ("no", "csr", "cython"), "bbox": ("bbox", "csr", "cython"), "full": ("full", "csr", "cython")}


def integrate(inp, *opts):
    out = "out.h5"
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.run([AZ, "integrate", inp, "--quiet", "-o", out, *map(str, opts)],
                       capture_output=True, text=True)
    if p.returncode:
        return None, p.stderr.strip()
    with h5py.File(out, "r") as f:
        r = f["entry/result"]
        return (r["radial_axis"][()], r["azimuthal_axis"][()] if "azimuthal_axis" in r else None, r["I"][0],
                r["I_errors"][0] if "I_errors" in r else None), None


def rel_err(a, b, sel):
    a, b = a[sel], b[sel]
    nz = b != 0
    e = np.abs(a[nz] - b[nz]) / np.abs(b[nz])
    return max(e.max() if e.size else 0.0, np.max(np.abs(a[~nz]), initial=0.0))


def compare(label, got, ref):
    """One azstream result (integrate()'s) against pyFAI's result `ref`."""
    rad, azim, I, sig = got
    refI = np.asarray(ref.intensity)
    if I.shape != refI.shape:
        check(False, "%s: shape %s, pyFAI %s" % (label, I.shape, refI.shape))
        return
    e = {"radial": np.max(np.abs(rad - ref.radial) / np.abs(ref.radial))}
    if azim is not None:
        e["azim"] = np.max(np.abs(azim - ref.azimuthal) / np.max(np.abs(ref.azimuthal)))
    cnt = np.asarray(ref.count).reshape(refI.shape)
    full = cnt > 0
    empty = ~full & ~pyfai_garbage(cnt, label)
    e["I"] = rel_err(I, refI, full)
    empty_ok = np.array_equal(I[empty], refI[empty])
    if ref.sigma is not None:
        if sig is None:
            check(False, "%s: no I_errors" % label)
            return
        refS = np.asarray(ref.sigma)
        e["sigma"] = rel_err(sig, refS, full)
        empty_ok = empty_ok and np.array_equal(sig[empty], refS[empty])
    e["empty"] = int((~full).sum())
    bad = e["radial"] > TOL_RAD or e.get("azim", 0) > TOL_RAD or e["I"] > TOL_I or \
        e.get("sigma", 0) > TOL_I or not empty_ok
    print("%s %-50s %s%s" % ("FAIL" if bad else "ok  ", label, " ".join("%s=%.2e" % kv for kv in e.items()),
                             "" if empty_ok else " (empty bins differ)"), flush=True)
    check(not bad, label)
    for k, v in e.items():
        worst[k] = max(worst.get(k, 0), v)


def run_compare(label, inp, opts, ref):
    got, err = integrate(inp, *opts)
    if got is None:
        check(False, "%s: azstream failed: %s" % (label, err))
        return None
    compare(label, got, ref)
    return got


PONI = """poni_version: 2
Detector: Pilatus200k
Detector_config: {}
Distance: 0.12
Poni1: -0.0041
Poni2: 0.0402
Rot1: 0.03
Rot2: -0.02
Rot3: 0.1
Wavelength: 1.0e-10
"""


def setup():
    with open("p200k.poni", "w") as f:
        f.write(PONI)
    ai = pyFAI.load("p200k.poni")
    ny, nx = ai.detector.max_shape
    y, x = np.mgrid[0:ny, 0:nx]
    r = np.hypot(y + 24.0, x - 233.7)
    base = 60 + 300 * np.exp(-((r % 31) - 15) ** 2 / 8.0)
    frame = np.random.default_rng(5).poisson(base).astype(np.float32)
    # pyFAI 2026.9's 2D full-split builder leaves the weights of the first pixel it
    # processes uninitialised (doc/integration.md): that pixel is a dummy on both sides.
    frame[0, 0] = -2
    with h5py.File("frame.h5", "w") as f:
        f.create_dataset("entry/data/data", data=frame[None], chunks=(1,) + frame.shape)
    return ai, frame


def scenario_empty():
    ai, frame = setup()
    # A radial range wider than the detector (empty bins at both ends) and a 2D cake
    # with empty sectors; pyFAI's ai.empty is float32.
    for V in [-5.0, 0.1, 0.0]:
        for em in ["none", "poisson", "azimuthal"]:
            for m in ["no", "bbox", "full"]:
                ai.reset()
                ai.empty = V
                pem = None if em == "none" else em
                common = ["--poni", "p200k.poni", "--method", m, "--error-model", em, "--radial-range", "0.5:40"]
                if V != 0.0:
                    common += ["--empty", V]
                run_compare("1D empty=%g %s %s" % (V, m, em), "frame.h5", common + ["--npt", 300],
                            ai.integrate1d_ng(frame, 300, radial_range=(0.5, 40), method=METHODS[m],
                                              error_model=pem))
                if em == "azimuthal" and (V == 0.1 or m == "full"):
                    # 2D full split with the azimuthal model: sigma within 5e-5 of pyFAI's in
                    # a few bins with or without --empty (the sums' order, not this option)
                    continue
                ai.reset()
                ai.empty = V
                run_compare("2D empty=%g %s %s" % (V, m, em), "frame.h5", common + ["--npt", 120, "--npt-azim", 90],
                            ai.integrate2d_ng(frame, 120, 90, radial_range=(0.5, 40), method=METHODS[m],
                                              error_model=pem))
    got, err = integrate("frame.h5", "--poni", "p200k.poni", "--empty", "nan")
    check(got is None and "--empty" in err, "--empty nan refused: %s" % err)


def scenario_tiff():
    from PIL import Image
    ai, frame = setup()
    ny, nx = frame.shape
    rng = np.random.default_rng(9)
    mask = (rng.uniform(size=(ny, nx)) < 0.05).astype(np.uint8)
    mask[ai.detector.mask.astype(bool)] = 1  # a user mask replaces the detector's: keep the gaps
    dark = rng.uniform(0, 20, size=(ny, nx)).astype(np.float32)
    np.save("mask.npy", mask)
    np.save("dark.npy", dark)
    Image.fromarray(mask).save("mask.tif")
    Image.fromarray(dark).save("dark.tiff", compression="tiff_lzw")
    with h5py.File("arrays.h5", "w") as f:
        f["calib/dark"] = dark
    for m in ["no", "bbox", "full"]:
        for two in [False, True]:
            ai.reset()
            dim = ["--npt", 120, "--npt-azim", 72] if two else ["--npt", 400]
            ref = (ai.integrate2d_ng(frame, 120, 72, method=METHODS[m], mask=mask, dark=dark, error_model="poisson")
                   if two else ai.integrate1d_ng(frame, 400, method=METHODS[m], mask=mask, dark=dark,
                                                 error_model="poisson"))
            base = ["--poni", "p200k.poni", "--method", m, "--error-model", "poisson"] + dim
            lab = "%s %s" % ("2D" if two else "1D", m)
            a = run_compare(lab + " mask/dark .npy", "frame.h5", base + ["--mask", "mask.npy", "--dark", "dark.npy"], ref)
            b = run_compare(lab + " mask/dark .tif/.tiff", "frame.h5",
                            base + ["--mask", "mask.tif", "--dark", "dark.tiff"], ref)
            c = run_compare(lab + " mask .tif, dark FILE.h5::/calib/dark", "frame.h5",
                            base + ["--mask", "mask.tif", "--dark", "arrays.h5::/calib/dark"], ref)
            if a and b and c:
                check(all(np.array_equal(x, y) for x, y in zip(a[2:], b[2:])) and
                      all(np.array_equal(x, y) for x, y in zip(a[2:], c[2:])),
                      lab + ": TIFF / :: and .npy results bit-identical")


CENTRED = [("Poni1: -0.0041", "Poni1: 0.0351"), ("Poni2: 0.0402", "Poni2: 0.0419"), ("Rot1: 0.03", "Rot1: 0"),
           ("Rot2: -0.02", "Rot2: 0"), ("Rot3: 0.1", "Rot3: 0")]


def first_in_range_dummy(ai, frame, rng, unmasked):
    """pyFAI 2026.9's 2D full-split builder leaves the weights of the first pixel it
    processes uninitialised (doc/integration.md); with an azimuth range that is the first
    unmasked pixel (raster order) reaching the range, not pixel [0, 0]: its result then
    changes from one process to the next (measured: 68.225 and 67.732 in one bin). The
    first 20 pixels reaching the range are made dummies on both sides."""
    lo, hi = np.mod(rng[0], 360), np.mod(rng[1], 360)
    hi = hi + 360 if hi <= lo else hi
    chi = np.degrees(np.mod(ai.chiArray(), 2 * np.pi))
    near = lambda c: (c >= lo - 1) & (c <= hi + 1)  # noqa: E731
    sel = np.argwhere((near(chi) | near(chi + 360)) & unmasked)[:20]
    fr = frame.copy()
    for i, j in sel:
        fr[i, j] = -2
    name = "frame_%g_%g.h5" % rng
    with h5py.File(name, "w") as f:
        f.create_dataset("entry/data/data", data=fr[None], chunks=(1,) + fr.shape)
    return name, fr


def scenario_chi0():
    global PONI
    for a, b in CENTRED:  # the beam on the detector: chi all round, pixels on the 0 cut
        PONI = PONI.replace(a, b)
    ai, frame = setup()
    unmasked = ~ai.detector.mask.astype(bool)
    for m in ["no", "bbox", "full"]:
        for rng in [None, (-90, 90), (350, 10), (0, 360), (200, 100)]:
            ra = [] if rng is None else ["--azimuth-range", "%g:%g" % rng]
            kw = {} if rng is None else {"azimuth_range": rng}
            base = ["--poni", "p200k.poni", "--method", m, "--chi-disc-at-0", "--error-model", "poisson"] + ra
            ai.reset()
            ai.setChiDiscAtZero()
            run_compare("1D chi0 %s %s" % (m, rng), "frame.h5", base + ["--npt", 300],
                        ai.integrate1d_ng(frame, 300, method=METHODS[m], error_model="poisson", **kw))
            ai.reset()
            ai.setChiDiscAtZero()
            meth, kw2 = METHODS[m], dict(kw)
            if rng is None and m == "bbox":
                # pyFAI 2026.9's no/bbox CSR 2D engines clip the automatic chi range to
                # [-180, 180] with chi in [0, 360) (doc/integration.md); its bbox histogram
                # engine does not, and is the same splitting
                meth = ("bbox", "histogram", "cython")
            elif rng is None and m == "no":
                # ... and its no-split histogram has the same bug: pyFAI is given the
                # automatic range itself (min and max chi centre of the unmasked pixels)
                chi = np.degrees(np.mod(ai.chiArray(), 2 * np.pi))[unmasked]
                kw2 = {"azimuth_range": (chi.min(), chi.max())}
            inp, fr = "frame.h5", frame
            if m == "full" and rng is not None:
                inp, fr = first_in_range_dummy(ai, frame, rng, unmasked)
            run_compare("2D chi0 %s %s" % (m, rng), inp, base + ["--npt", 120, "--npt-azim", 36],
                        ai.integrate2d_ng(fr, 120, 36, method=meth, error_model="poisson", **kw2))
    # the same through a config file: pyFAI's key
    import json
    ai.reset()
    ai.setChiDiscAtZero()
    with open("chi0.json", "w") as f:
        json.dump({"chi_discontinuity_at_0": True, "azimuth_range": [-90, 90], "method": "full"}, f)
    inp, fr = first_in_range_dummy(ai, frame, (-90, 90), unmasked)
    run_compare("2D chi0 full (-90, 90) from a config", inp,
                ["--poni", "p200k.poni", "--config", "chi0.json", "--npt", 120, "--npt-azim", 36],
                ai.integrate2d_ng(fr, 120, 36, method=METHODS["full"], azimuth_range=(-90, 90)))


def auto_range(centres):
    """pyFAI's automatic [min, max) of an axis from its bin centres: min = c0 - d/2 and
    the upper end min + n d, which pyFAI pushed out by one float32 epsilon from the max."""
    c = np.asarray(centres, dtype=np.float64)
    d = (c[-1] - c[0]) / (len(c) - 1)
    lo = c[0] - d / 2
    hi = lo + len(c) * d
    return lo, hi / (1 + np.finfo(np.float32).eps) if hi > 0 else hi * (1 + np.finfo(np.float32).eps)


def scenario_halfopen():
    ai, frame = setup()
    for m in ["no", "bbox", "full"]:
        ai.reset()
        full2 = ai.integrate2d_ng(frame, 120, 36, method=METHODS[m], unit="q_nm^-1")
        qlo, qhi = auto_range(full2.radial)
        clo, chi = auto_range(full2.azimuthal)
        for opt, lo, hi in [("--radial-range", 5, None), ("--radial-range", None, 20),
                            ("--azimuth-range", -90, None), ("--azimuth-range", None, 90)]:
            arg = "%s:%s" % ("" if lo is None else lo, "" if hi is None else hi)
            if opt == "--radial-range":
                kw = {"radial_range": (qlo if lo is None else lo, qhi if hi is None else hi)}
            else:
                kw = {"azimuth_range": (clo if lo is None else lo, chi if hi is None else hi)}
            base = ["--poni", "p200k.poni", "--method", m, "--unit", "q_nm^-1", "--error-model", "poisson", opt, arg]
            ai.reset()
            run_compare("1D %s %s %s" % (m, opt, arg), "frame.h5", base + ["--npt", 300],
                        ai.integrate1d_ng(frame, 300, method=METHODS[m], unit="q_nm^-1", error_model="poisson", **kw))
            ai.reset()
            run_compare("2D %s %s %s" % (m, opt, arg), "frame.h5", base + ["--npt", 120, "--npt-azim", 36],
                        ai.integrate2d_ng(frame, 120, 36, method=METHODS[m], unit="q_nm^-1", error_model="poisson",
                                          **kw))
    for bad in [":", "5", "a:3", "5:nan", "20:5"]:
        got, err = integrate("frame.h5", "--poni", "p200k.poni", "--radial-range", bad)
        check(got is None and "--radial-range" in err, "--radial-range %s refused: %s" % (bad, err))
    got, err = integrate("frame.h5", "--poni", "p200k.poni", "--azimuth-range", "30:30")
    check(got is None and "--azimuth-range" in err, "--azimuth-range 30:30 refused: %s" % err)


{"empty": scenario_empty, "tiff": scenario_tiff, "chi0": scenario_chi0, "halfopen": scenario_halfopen}[WHAT]()
print("worst:", " ".join("%s=%.2e" % kv for kv in worst.items()))
finish("options_pyfai " + WHAT)
