"""azstream integrate with pyFAI 2026.9's defaults and in its masking corners, compared with
pyFAI run here (integrate1d_ng / integrate2d_ng, whose defaults are the reference).

Scenarios (the last argument picks one, so each is its own ctest test):
  real      the real Eiger 4M frame and its MAX IV PONI, only --poni and --npt: pyFAI's
            integrate1d_ng(frame, 1000) and integrate2d_ng(frame, 500) with every default
            (the detector's dummy −2 wrapped to uint32 masks the 0xFFFFFFFF pixels)
  dtypes    the detector dummy per frame type (uint8/16/32/64, int16/32/64, float32/64: the wrap
            and the inclusive delta), a float32 copy of a uint32 frame (not masked, as in
            pyFAI), an explicit --dummy (not wrapped), --no-dummy
  mask      a user mask replaces the detector's gap mask; --no-gap-mask
  flatdark  pixels whose flat is 0 / NaN / ±inf or whose dark is NaN / ±inf are left out
            (a flat of −1 is kept), splits no / bbox / full, 1D and 2D
Acceptance, every case: radial (and azimuthal) centres within 1e-6 relative, I within 1e-5
relative in every bin pyFAI counts pixels in, bins it leaves empty equal (0).

usage: defaults_pyfai.py AZSTREAM WORKDIR DATA_DIR real|dtypes|mask|flatdark"""
import logging
import os
import subprocess
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import h5py  # noqa: E402
import hdf5plugin  # noqa: E402,F401
import pyFAI  # noqa: E402
from pyFAI.detectors import Detector  # noqa: E402
from pyFAI.integrator.azimuthal import AzimuthalIntegrator  # noqa: E402

from e2e import check, finish, fresh_workdir, pyfai_garbage  # noqa: E402

logging.getLogger("pyFAI").setLevel(logging.ERROR)
AZ = os.path.abspath(sys.argv[1])
DATA = os.path.abspath(sys.argv[3])
WHAT = sys.argv[4]
wd = fresh_workdir(os.path.join(sys.argv[2], WHAT))
TOL_RAD, TOL_I = 1e-6, 1e-5
worst = {}


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
        return (r["radial_axis"][()], r["azimuthal_axis"][()] if "azimuthal_axis" in r else None, r["I"][0]), None


def compare(label, inp, opts, ref, may_be_unsupported=False):
    """Our run of `inp` with `opts` against pyFAI's result `ref`."""
    got, err = integrate(inp, *opts)
    if got is None and may_be_unsupported and "pixel type" in err:
        print("skip %-44s %s" % (label, err), flush=True)  # 64-bit frames in a build without them
        return
    if got is None:
        check(False, "%s: azstream failed: %s" % (label, err))
        return
    rad, azim, I = got
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
    nz = full & (refI != 0)
    rel = np.abs(I[nz] - refI[nz]) / np.abs(refI[nz])
    e["I"] = rel.max() if rel.size else 0.0
    e["I0"] = np.max(np.abs(I[full & (refI == 0)]), initial=0.0)  # counted bins pyFAI gives 0
    nbad = int(np.sum(rel > TOL_I))
    empty_ok = np.array_equal(I[empty], refI[empty])
    bad = e["radial"] > TOL_RAD or e.get("azim", 0) > TOL_RAD or e["I"] > TOL_I or e["I0"] > 0 or \
        not empty_ok or not np.all(np.isfinite(I))
    print("%s %-44s %s%s" % ("FAIL" if bad else "ok  ", label, " ".join("%s=%.2e" % kv for kv in e.items()),
                             "" if empty_ok else " (empty bins differ)"), flush=True)
    if not empty_ok:  # which bins: a rare failure told apart from pyFAI's uninitialised weights
        for b in np.flatnonzero(empty & ~((I == refI) | (np.isnan(I) & np.isnan(refI))))[:8]:
            print("     bin %s: azstream I=%r, pyFAI I=%r count=%r" % (np.unravel_index(b, I.shape), float(I.flat[b]),
                                                                   float(refI.flat[b]), float(cnt.flat[b])), flush=True)
    check(not bad, "%s: %d of %d counted bins off, %s" % (label, nbad, int(full.sum()),
                                                          " ".join("%s=%.2e" % kv for kv in e.items())))
    for k, v in e.items():
        worst[k] = max(worst.get(k, 0), v)


def write_h5(path, frame):
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data/data", data=frame[None], chunks=(1,) + frame.shape)


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


def small_setup():
    """Pilatus 200k (DECTRIS: dummy −2 ± 1.5; two modules with a 17-row gap), a PONI for it
    and a frame of rings."""
    with open("p200k.poni", "w") as f:
        f.write(PONI)
    ai = pyFAI.load("p200k.poni")
    ny, nx = ai.detector.max_shape
    y, x = np.mgrid[0:ny, 0:nx]
    r = np.hypot(y + 24.0, x - 233.7)
    base = 60 + 300 * np.exp(-((r % 31) - 15) ** 2 / 8.0)
    frame = np.random.default_rng(5).poisson(base).astype(np.float64)
    return ai, frame


def generic_twin(ai):
    """The same geometry on pyFAI's generic detector: no dummy, no mask of its own."""
    return AzimuthalIntegrator(dist=ai.dist, poni1=ai.poni1, poni2=ai.poni2, rot1=ai.rot1, rot2=ai.rot2,
                               rot3=ai.rot3, wavelength=ai.wavelength,
                               detector=Detector(ai.detector.pixel1, ai.detector.pixel2,
                                                 max_shape=ai.detector.max_shape))


def scatter(shape, rng, fraction):
    return rng.uniform(size=shape) < fraction


def scenario_real():
    frame_path = os.path.join(DATA, "real", "eiger4m_real_frame_bslz4.h5")
    poni = os.path.join(DATA, "real", "poni", "maxiv_azint_bench_Eiger4M.poni")
    with h5py.File(frame_path, "r") as f:
        frame = f["/entry/data/data"][0]
    ai = pyFAI.load(poni)
    compare("eiger4m real 1D, --poni --npt 1000 only", frame_path, ["--poni", poni, "--npt", 1000],
            ai.integrate1d_ng(frame, 1000))
    ai.reset()
    compare("eiger4m real 2D, --npt 500 --npt-azim 360", frame_path,
            ["--poni", poni, "--npt", 500, "--npt-azim", 360], ai.integrate2d_ng(frame, 500))


def scenario_dtypes():
    ai, base = small_setup()
    shape = base.shape
    rng = np.random.default_rng(11)
    specials = {  # values planted in 0.5 % of the pixels each: dropped or kept by pyFAI's rule
        np.uint32: [0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFF80, 0xFFFFFF7F, 0],
        np.uint16: [65535, 65534, 65533, 65532],
        np.uint8: [255, 254, 253, 252],
        np.int16: [-1, -2, -3, -4, -5],
        np.int32: [-1, -2, -3, -4, 0x7FFFFFFF],
        np.float32: [-0.5, -3.5, -0.4999, -3.6, -2.0, np.nan],
        np.float64: [-0.5, -3.5, -0.4999, -3.6, -2.0, np.inf],
        np.uint64: [0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0xFFFFFFFF, 0],
        np.int64: [-1, -2, -3, -4, 0xFFFFFFFF],
    }
    frames = {}
    for t, vals in specials.items():
        fr = np.minimum(base, 250 if t == np.uint8 else 1e9).astype(t)
        for v in vals:
            fr[scatter(shape, rng, 0.005)] = v
        frames[t] = fr
    frames["float32 copy of uint32"] = frames[np.uint32].astype(np.float32)
    for t, fr in frames.items():
        name = t if isinstance(t, str) else np.dtype(t).name
        path = "f_%s.h5" % name.replace(" ", "_")
        write_h5(path, fr)
        ai.reset()
        compare("%s, default dummy, bbox 1D" % name, path, ["--poni", "p200k.poni", "--npt", 400],
                ai.integrate1d_ng(fr, 400), may_be_unsupported=t in (np.uint64, np.int64))
        if t in (np.uint32, np.int16):
            # pyFAI 2026.9's 2D full-split builder leaves the weights of the first pixel it
            # processes uninitialised (doc/integration.md): a dummy there on both sides.
            # Kept huge values (0xFFFFFF7F) out of this one: a bin's I is then the huge value
            # times a small full-split weight, whose last float32 bits differ from pyFAI's
            # (1e-4 relative in a few bins; a matter of the builder, not of the dummy).
            fr = fr.copy()
            fr[fr == 0xFFFFFF7F] = 100
            fr[0, 0] = 0xFFFFFFFF if t == np.uint32 else -2
            write_h5("f2_" + path, fr)
            ai.reset()
            compare("%s, default dummy, full 2D" % name, "f2_" + path,
                    ["--poni", "p200k.poni", "--npt", 200, "--npt-azim", 72, "--method", "full"],
                    ai.integrate2d_ng(fr, 200, 72, method=("full", "csr", "cython")))
    fr = frames[np.uint32]
    path = "f_uint32.h5"
    ai.reset()
    compare("uint32, --dummy -2 (not wrapped)", path, ["--poni", "p200k.poni", "--npt", 400, "--dummy", -2],
            ai.integrate1d_ng(fr, 400, dummy=-2))
    ai.reset()
    compare("uint32, --dummy 4294967295 --delta-dummy 0.5", path,
            ["--poni", "p200k.poni", "--npt", 400, "--dummy", 4294967295, "--delta-dummy", 0.5],
            ai.integrate1d_ng(fr, 400, dummy=4294967295, delta_dummy=0.5))
    # --no-dummy: pyFAI without a detector dummy is its generic detector (no dummy) given
    # the Pilatus gap mask explicitly.
    gen = generic_twin(ai)
    fr = frames[np.int32]
    compare("int32, --no-dummy", "f_int32.h5", ["--poni", "p200k.poni", "--npt", 400, "--no-dummy"],
            gen.integrate1d_ng(fr, 400, mask=ai.detector.mask))


def scenario_mask():
    ai, base = small_setup()
    frame = base.astype(np.int32)
    gaps = ai.detector.mask.astype(bool)
    assert gaps.any()
    frame[gaps] = 1000000  # finite junk in the module gap: only the mask keeps it out
    rng = np.random.default_rng(12)
    user = np.zeros(frame.shape, np.uint8)
    user[300:320, :] = 1
    user[scatter(frame.shape, rng, 0.03)] = 1
    # pyFAI 2026.9's 2D full-split builder leaves the weights of the first pixel it
    # processes uninitialised (doc/integration.md): under every mask used here that pixel
    # is [0, 0], made the detector's dummy (-2) on both sides.
    user[0, 0] = 0
    assert not gaps[0, 0]
    frame[0, 0] = -2
    np.save("user.npy", user)
    write_h5("m.h5", frame)
    P = ["--poni", "p200k.poni"]
    for method in ("no", "bbox", "full"):
        for npt_azim in (0, 36):
            dim = "2D" if npt_azim else "1D"
            opts = P + ["--method", method, "--npt", 300] + (["--npt-azim", npt_azim] if npt_azim else [])

            def ref(**kw):
                ai.reset()
                m = (method, "csr", "cython")
                return ai.integrate2d_ng(frame, 300, npt_azim, method=m, **kw) if npt_azim else \
                    ai.integrate1d_ng(frame, 300, method=m, **kw)
            compare("user mask replaces the gaps, %s %s" % (method, dim), "m.h5", opts + ["--mask", "user.npy"],
                    ref(mask=user))
            if method == "bbox":
                compare("default: the detector mask, %s %s" % (method, dim), "m.h5", opts, ref())
                compare("--no-gap-mask, %s %s" % (method, dim), "m.h5", opts + ["--no-gap-mask"],
                        ref(mask=np.zeros(frame.shape, np.uint8)))


def scenario_flatdark():
    ai, base = small_setup()
    frame = base.astype(np.float32)
    shape = frame.shape
    # pyFAI 2026.9's 2D full-split builder leaves the weights of the first pixel it
    # processes uninitialised (doc/integration.md): that pixel is NaN on both sides.
    frame[0, 0] = np.nan
    rng = np.random.default_rng(13)
    flat = rng.uniform(0.8, 1.2, shape).astype(np.float32)
    dark = rng.uniform(0, 5, shape).astype(np.float32)
    # −1 and −3 are dummies of the detector's (−2 within 1.5: a flat that is a dummy is
    # left out too), −4 and 5.5 are not (5.5 is, below, under --dummy 5 --delta-dummy 1)
    for v, fr in [(0.0, 0.01), (np.nan, 0.005), (np.inf, 0.003), (-np.inf, 0.003), (-1.0, 0.005),
                  (-3.0, 0.002), (-4.0, 0.002), (5.5, 0.003), (-0.0, 0.002)]:
        flat[scatter(shape, rng, fr)] = v
    for v, fr in [(np.nan, 0.005), (np.inf, 0.003), (-np.inf, 0.003)]:
        dark[scatter(shape, rng, fr)] = v
    flat[0, 0], dark[0, 0] = 1.0, 0.0
    np.save("flat.npy", flat)
    np.save("dark.npy", dark)
    write_h5("fd.h5", frame)
    P = ["--poni", "p200k.poni", "--npt", 300]
    for method in ("no", "bbox", "full"):
        for npt_azim in (0, 36):
            dim = "2D" if npt_azim else "1D"
            opts = P + ["--method", method] + (["--npt-azim", npt_azim] if npt_azim else [])
            m = (method, "csr", "cython")
            for what, kw, args in [("flat", dict(flat=flat), ["--flat", "flat.npy"]),
                                   ("dark", dict(dark=dark), ["--dark", "dark.npy"]),
                                   ("flat+dark", dict(flat=flat, dark=dark), ["--flat", "flat.npy", "--dark",
                                                                              "dark.npy"])]:
                if what != "flat+dark" and method != "bbox":
                    continue
                ai.reset()
                ref = ai.integrate2d_ng(frame, 300, npt_azim, method=m, **kw) if npt_azim else \
                    ai.integrate1d_ng(frame, 300, method=m, **kw)
                compare("%s 0/NaN/inf, %s %s" % (what, method, dim), "fd.h5", opts + args, ref)
    # the flat's dummy test follows the dummy in use: none, or an explicit one
    F = P + ["--flat", "flat.npy", "--dark", "dark.npy"]
    gen = generic_twin(ai)
    compare("flat+dark, --no-dummy (flat -1 kept), bbox 1D", "fd.h5", F + ["--no-dummy"],
            gen.integrate1d_ng(frame, 300, flat=flat, dark=dark, mask=ai.detector.mask))
    ai.reset()
    compare("flat+dark, --dummy 5 --delta-dummy 1, bbox 1D", "fd.h5", F + ["--dummy", 5, "--delta-dummy", 1],
            ai.integrate1d_ng(frame, 300, flat=flat, dark=dark, dummy=5, delta_dummy=1))
    ai.reset()
    compare("flat+dark, --dummy 5.5, bbox 2D", "fd.h5", F + ["--dummy", 5.5, "--npt-azim", 36],
            ai.integrate2d_ng(frame, 300, 36, flat=flat, dark=dark, dummy=5.5))


{"real": scenario_real, "dtypes": scenario_dtypes, "mask": scenario_mask, "flatdark": scenario_flatdark}[WHAT]()
print("worst: " + " ".join("%s=%.2e" % kv for kv in sorted(worst.items())))
finish("defaults_pyfai " + WHAT)
