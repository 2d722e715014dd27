"""Geometry against pyFAI (the reference, run here): PONI values, detector names, shapes and
masks, pixel centre and corner positions in every unit, chi, solid angle, polarization.

    python test_vs_pyfai.py GEOM_DUMP SHARED_DATA {poni|detectors|positions}

Exit 0 = pass, 1 = fail, 77 = skip (no pyFAI)."""
import math
import os
import subprocess
import sys
import tempfile
import warnings

try:
    import numpy as np
    import pyFAI
    from pyFAI.detectors import Detector, detector_factory
    from pyFAI.ext import _geometry
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    from pyFAI.io.ponifile import PoniFile
except ImportError as e:  # pragma: no cover
    print("skip:", e)
    sys.exit(77)

warnings.simplefilter("ignore")
import logging
logging.disable(logging.CRITICAL)

TOOL, SHARED, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
FAILURES = []
UNITS = ["q_nm^-1", "q_A^-1", "2th_deg", "2th_rad", "r_mm"]
SCALE = {"q_nm^-1": 1.0, "q_A^-1": 0.1, "2th_deg": 180 / math.pi, "2th_rad": 1.0, "r_mm": 1000.0}
SPACE = {"q_nm^-1": "q", "q_A^-1": "q", "2th_deg": "2th", "2th_rad": "2th", "r_mm": "r"}
# pyFAI 2026.9's other radial units (mode "units"): every one but r_m is a function of q
NEW_UNITS = ["r_m", "d_m", "d_nm", "d_A", "d*2_nm^-2", "d*2_A^-2", "log(1+q.nm)_None",
             "log(1+q.A)_None", "arcsinh(q.nm)_None", "arcsinh(q.A)_None"]
for _u in NEW_UNITS:
    SCALE[_u] = pyFAI.units.to_unit(_u).scale
    SPACE[_u] = "r" if _u == "r_m" else "q"


def check(ok, msg):
    print(("ok   " if ok else "FAIL ") + msg)
    if not ok:
        FAILURES.append(msg)


def run(*args, expect_ok=True):
    p = subprocess.run([TOOL, *args], capture_output=True, text=True)
    if expect_ok and p.returncode != 0:
        raise RuntimeError(f"{args}: {p.stderr}")
    return p


def real_ponis():
    d = os.path.join(SHARED, "real", "poni")
    out = [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".poni")]
    d2 = os.path.join(SHARED, "real", "ssrl_pilatus300k_LaB6")
    out += [os.path.join(d2, f) for f in sorted(os.listdir(d2)) if f.endswith(".poni")]
    return out


def rel_err(ours, ref):
    """max |a-b| / max(|b|, 1e-12·max|b|): relative, with a floor so that values that are
    exactly zero in one implementation (2θ at the PONI) do not blow up."""
    ref = np.asarray(ref, dtype=np.float64)
    floor = 1e-12 * max(float(np.max(np.abs(ref))), 1e-300)
    return float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), floor)))


def angle_err(ours, ref):
    d = np.abs(np.remainder(ours - ref + math.pi, 2 * math.pi) - math.pi)
    return float(np.max(d))


# ---------------------------------------------------------------------------------- poni
def test_poni():
    files = real_ponis()
    check(len(files) >= 7, f"found {len(files)} real PONI files")
    tmp = tempfile.mkdtemp()
    import atexit, shutil
    atexit.register(shutil.rmtree, tmp, True)
    files += [write_synth(tmp, k, s) for k, s in enumerate(SYNTH)]  # version 2.1, orientations
    for f in files:
        p = run("poni", f)
        v = p.stdout.strip().split("|")
        ai = pyFAI.load(f)
        det = ai.detector
        name = os.path.basename(f)
        shape = det.max_shape or (0, 0)
        exp = [det.name, shape[0], shape[1], det.pixel1, det.pixel2, int(det.orientation or 3),
               ai.dist, ai.poni1, ai.poni2, ai.rot1, ai.rot2, ai.rot3, ai.wavelength or 0.0,
               PoniFile(f).API_VERSION]
        got = [v[0], int(v[1]), int(v[2])] + [float(x) for x in v[3:5]] + [int(v[5])] + \
              [float(x) for x in v[6:]]
        check(got == exp, f"{name}: parsed values equal pyFAI's exactly ({got[0]}, shape "
              f"{got[1]}x{got[2]}, version {got[-1]})")


# ----------------------------------------------------------------------------- detectors
REQUIRED = {"Eiger500k", "Eiger1M", "Eiger4M", "Eiger9M", "Eiger16M", "Eiger2_500k", "Eiger2_1M",
            "Eiger2_4M", "Eiger2_9M", "Eiger2_16M", "Pilatus100k", "Pilatus300k", "Pilatus300kw",
            "Pilatus1M", "Pilatus2M", "Pilatus6M", "Jungfrau1M", "Jungfrau4M"}


def test_detectors():
    seen = {}
    for key, cls in Detector.registry.items():
        seen.setdefault(cls, []).append(key)
    supported = 0
    for cls, keys in sorted(seen.items(), key=lambda kv: kv[0].__name__):
        if cls.__name__ == "Detector":
            continue
        p = run("det", cls.__name__, expect_ok=False)
        if p.returncode != 0:
            # not ours: must be a clear error, and not one we promise
            check(cls.__name__ not in REQUIRED and "unknown detector" in p.stderr,
                  f"{cls.__name__}: not supported, clear error")
            continue
        supported += 1
        det = cls()
        name, ny, nx, p1, p2, o = p.stdout.strip().split("|")
        check(name == det.name and (int(ny), int(nx)) == tuple(det.max_shape) and
              float(p1) == det.pixel1 and float(p2) == det.pixel2 and int(o) == int(det.orientation),
              f"{cls.__name__}: name/shape/pixel/orientation as pyFAI ({name}, {ny}x{nx})")
        # every name pyFAI accepts for it must give the same detector
        aliases = set(keys) | {cls.__name__} | set(getattr(cls, "aliases", ()))
        bad = [a for a in aliases if run("det", a, expect_ok=False).stdout.strip().split("|")[0] != name]
        check(not bad, f"{cls.__name__}: {len(aliases)} names resolve to it {bad}")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "m")
            run("mask", cls.__name__, out)
            ours = np.fromfile(out, dtype=np.uint8).reshape(det.max_shape)
            ref = det.mask
            ref = np.zeros(det.max_shape, np.uint8) if ref is None else (ref != 0).astype(np.uint8)
            check(np.array_equal(ours, ref), f"{cls.__name__}: mask equal bit for bit "
                  f"({int(ref.sum())} masked of {ref.size})")
    check(supported >= 40, f"{supported} pyFAI detector classes supported")
    for n in ["eiger2 4m", "EIGER2_4M", "Eiger2 4M", "pilatus_300kw", "Pilatus 300kw", "pilatus1mcdte"]:
        check(run("det", n, expect_ok=False).returncode == 0, f"name '{n}' accepted")
    for n in ["Eiger 5M", "", "Pilatus", "x" * 500]:
        p = run("det", n, expect_ok=False)
        check(p.returncode != 0 and "unknown detector" in p.stderr, f"name '{n[:20]}' refused")


# ----------------------------------------------------------------------------- positions
SYNTH = [
    # detector, config extra, dist, poni1, poni2, rot1, rot2, rot3, wavelength
    ("Pilatus1M", {"orientation": 1}, 0.25, 0.09, 0.07, 0.21, -0.17, 0.4, 1.0e-10),
    ("Eiger500k", {"orientation": 2}, 0.12, 0.02, 0.04, -0.3, 0.25, -1.2, 0.7e-10),
    ("Eiger2CdTe_500k", {"orientation": 4}, 0.08, -0.01, 0.03, 0.5, 0.1, 2.5, 1.5e-10),
    ("Pilatus300kw", {"orientation": 3}, 0.5, 0.2, -0.05, 0.35, -0.4, -2.9, 0.9e-10),
    ("Detector", {"pixel1": 1e-4, "pixel2": 5e-5, "max_shape": [300, 400], "orientation": 3},
     0.05, 0.015, 0.01, 0.0, 0.0, 0.0, 1.0e-10),
]


def write_synth(tmp, k, s):
    import json
    det, cfg, dist, p1, p2, r1, r2, r3, wl = s
    path = os.path.join(tmp, f"synth{k}.poni")
    with open(path, "w") as f:
        f.write(f"# synthetic tilted geometry {k}\nponi_version: 2.1\nDetector: {det}\n"
                f"Detector_config: {json.dumps(cfg)}\nDistance: {dist!r}\nPoni1: {p1!r}\n"
                f"Poni2: {p2!r}\nRot1: {r1!r}\nRot2: {r2!r}\nRot3: {r3!r}\nWavelength: {wl!r}\n")
    return path


GUESS_SHAPE = {"dioptas_CeO2_Pilatus1M.poni": (1043, 981), "pyFAI_benchmark_Pilatus1M.poni": (1043, 981),
               "dioptas_lambda_L2.poni": (516, 1556)}


def compare_positions(path, tmp, units, corner_units, pol=((0.99, 0.0), (-0.5, 0.7))):
    name = os.path.basename(path)
    ai = pyFAI.load(path)
    shape = ai.detector.max_shape
    extra = []
    if shape is None:
        shape = GUESS_SHAPE[name]
        extra = ["--shape", str(shape[0]), str(shape[1])]
    ny, nx = shape
    if not ai.wavelength:
        units = [u for u in units if SPACE[u] != "q"]
        corner_units = [u for u in corner_units if SPACE[u] != "q"]
        p = run("arr", path, tmp, *extra, "center:q_nm^-1", expect_ok=False)
        check(p.returncode != 0 and "wavelength" in p.stderr, f"{name}: q without wavelength refused")
    whats = [f"center:{u}" for u in units] + [f"corner:{u}" for u in corner_units] + \
            ["chi:center", "chi:corner", "solid"] + [f"pol:{f!r}:{o!r}" for f, o in pol] + \
            [f"chi:corner:{u}" for u in corner_units if u in NEW_UNITS]
    run("arr", path, tmp, *extra, *whats)

    def load(w, corner=False):
        fn = w
        for c in "/:^":
            fn = fn.replace(c, "_")
        a = np.fromfile(os.path.join(tmp, fn + ".bin"), dtype=np.float64)
        return a.reshape((ny + 1, nx + 1) if corner else (ny, nx))

    tag = f"{name} ({ai.detector.name} {ny}x{nx}, orientation {int(ai.detector.orientation)})"
    # centres: pyFAI's double path (center_array, what array_from_unit uses)
    for u in units:
        ref = AzimuthalIntegrator.sload(path) if False else pyFAI.load(path)
        r = ref.array_from_unit(shape, "center", u, scale=True)
        e = rel_err(load(f"center:{u}"), r)
        check(e <= 1e-10, f"{tag}: centre {u} rel err {e:.2e}")
    chi_ref = pyFAI.load(path).center_array(shape, "chi_rad", scale=False)
    e = angle_err(load("chi:center"), chi_ref)
    check(e <= 1e-10, f"{tag}: centre chi abs err {e:.2e} rad")
    chi_c = load("chi:corner", True)
    for u in corner_units:
        # pyFAI has no double corner array: calc_rad_azim computes in double and returns
        # float32. So: our double corners must round to pyFAI's float32 (<= 0.5 ulp for
        # unscaled units, scaled ones get one more float32 multiply in pyFAI).
        ours = load(f"corner:{u}", True)
        # (b) the public float32 corner array: (ny, nx, 4, 2), corners A=(i,j) B=(i+1,j)
        #     C=(i+1,j+1) D=(i,j+1); raw chi per corner
        c = pyFAI.load(path).array_from_unit(shape, "corner", u, scale=True)
        q = np.stack([ours[:-1, :-1], ours[1:, :-1], ours[1:, 1:], ours[:-1, 1:]], axis=-1)
        # pyFAI's χ corners of the units without its fast path come from float32 pixel corners
        xc = load(f"chi:corner:{u}", True) if u in NEW_UNITS else chi_c
        x = np.stack([xc[:-1, :-1], xc[1:, :-1], xc[1:, 1:], xc[:-1, 1:]], axis=-1)
        ulp = np.spacing(np.abs(c[..., 0]).astype(np.float32)).astype(np.float64)
        er = float(np.max(np.abs(q - c[..., 0]) / np.maximum(ulp, 1e-30)))
        ex = angle_err(x, c[..., 1].astype(np.float64))
        lim = 0.5001 if SCALE[u] == 1.0 else 2.0
        check(er <= lim and ex <= 2.4e-7, f"{tag}: corner {u} vs array_from_unit float32: "
              f"{er:.2f} ulp radial, chi {ex:.1e} rad")
    # pyFAI's corner chi is the raw atan2 of each corner in (-pi, pi] (no unwrapping): a
    # pixel that straddles the discontinuity has corners near +pi and -pi. Same pixels here.
    span_ref = np.ptp(c[..., 1].astype(np.float64), axis=-1) > math.pi + 1e-6
    span_our = np.ptp(x, axis=-1) > math.pi + 1e-6
    check(np.array_equal(span_ref, span_our), f"{tag}: {int(span_ref.sum())} pixels straddle "
          f"chi=pi in pyFAI's corners, the same ones in ours")
    s_ref = pyFAI.load(path).solidAngleArray(shape, absolute=False)
    e = rel_err(load("solid"), s_ref)
    check(e <= 1e-10, f"{tag}: solid angle rel err {e:.2e}")
    for f, o in pol:
        pr = pyFAI.load(path).polarization(shape, f, o)
        ours = load(f"pol:{f!r}:{o!r}")
        same = np.mean(ours.astype(np.float32) == pr)
        ulp = float(np.max(np.abs(ours.astype(np.float32).astype(np.float64) - pr) / np.spacing(np.abs(pr))))
        e = rel_err(ours, pr)
        check(ulp <= 1.0, f"{tag}: polarization f={f} off={o}: rel err {e:.2e} vs pyFAI's float32, "
              f"{same * 100:.4f}% identical after rounding, max {ulp:.0f} ulp")


def test_positions():
    with tempfile.TemporaryDirectory() as tmp:
        for f in real_ponis():
            if "cookbook" in f:  # same detector as the MAX IV file: keep the test short
                compare_positions(f, tmp, ["q_nm^-1"], ["q_nm^-1"], pol=((0.99, 0.0),))
            elif "Eiger4M" in f:
                compare_positions(f, tmp, UNITS, ["q_nm^-1", "2th_deg"])
            else:
                compare_positions(f, tmp, UNITS, UNITS if "ssrl" in f else ["q_A^-1", "2th_rad"])
        # tilted geometries, every orientation; all units at the corners on the small ones
        for k, s in enumerate(SYNTH):
            small = s[0] in ("Detector", "Pilatus300kw")
            compare_positions(write_synth(tmp, k, s), tmp, UNITS,
                              UNITS if small else ["q_nm^-1", "2th_deg", "r_mm"])


def test_units():
    """The radial units added after the first five, centres and corners, on two small
    tilted detectors (beam off and on the detector, not on a corner: d = 2π/q is infinite
    where q = 0), and pyFAI's unit names only."""
    with tempfile.TemporaryDirectory() as tmp:
        compare_positions(write_synth(tmp, 3, SYNTH[3]), tmp, NEW_UNITS, NEW_UNITS, pol=())
        on = ("Detector", {"pixel1": 1e-4, "pixel2": 1.2e-4, "max_shape": [120, 100]}, 0.1,
              0.006037, 0.004071, 0.02, -0.03, 0.1, 1.0e-10)
        compare_positions(write_synth(tmp, 9, on), tmp, NEW_UNITS, NEW_UNITS, pol=())
        path = write_synth(tmp, 9, on)
        for bad in ("q_m^-1", "Q_NM^-1", "d", "chi_deg"):
            p = run("arr", path, tmp, "center:" + bad, expect_ok=False)
            check(p.returncode != 0 and "d*2_A^-2" in p.stderr and "arcsinh(q.A)_None" in p.stderr,
                  f"unit {bad} refused, the message lists pyFAI's names: {p.stderr.strip()[:150]}")
            check(pyFAI.units.to_unit(bad, pyFAI.units.RADIAL_UNITS) is None if bad != "chi_deg" else True,
                  f"pyFAI has no radial unit {bad} either")


{"poni": test_poni, "detectors": test_detectors, "positions": test_positions,
 "units": test_units}[MODE]()
print(f"{len(FAILURES)} failure(s)")
sys.exit(1 if FAILURES else 0)
