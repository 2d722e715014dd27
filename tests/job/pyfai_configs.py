"""pyFAI integration configs through `azstream integrate FRAME --config CFG`, against pyFAI
2026.9's own Worker on the same frame and the same config:
  * version 5 written by pyFAI itself (Worker.get_worker_config, WorkerConfig.save), 1D and
    2D, each splitting, each error model, lists of darks and flats, a mask file, the chi
    discontinuity at 0;
  * the real Eiger 4M frame (tests/data/real) with a pyFAI-written v5 config;
  * hand-written versions 1 to 4 (top-level geometry, comma-separated darks, do_* switches,
    method strings and lists, the poni object, integrator_name);
  * an unknown or mistyped key: exit 2, naming the key and the file;
  * the configuration azstream stores (/entry/reduction/input/configuration) loaded by pyFAI's
    WorkerConfig.from_dict with the same meaning, and pyFAI's Worker re-running it gives
    azstream's numbers again.
Acceptance: radial (and azimuthal) centres within 1e-6 relative, I and sigma within 1e-5
relative in every bin pyFAI counts pixels in, empty bins equal.

usage: pyfai_configs.py AZSTREAM WORKDIR"""
import copy
import json
import logging
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli_integrate"))
import fabio  # noqa: E402
import h5py  # noqa: E402
import pyFAI  # noqa: E402,F401
from pyFAI.detectors import Detector  # noqa: E402
from pyFAI.integrator.azimuthal import AzimuthalIntegrator  # noqa: E402
from pyFAI.io.integration_config import WorkerConfig  # noqa: E402
from pyFAI.worker import Worker  # noqa: E402

from e2e import check, finish, fresh_workdir  # noqa: E402

logging.getLogger("pyFAI").setLevel(logging.ERROR)
AZ = os.path.abspath(sys.argv[1])
wd = fresh_workdir(os.path.join(sys.argv[2], "pyfai_configs"))
TOL_RAD, TOL_I = 1e-6, 1e-5
worst = {}

# A small generic detector, the beam just off its edge (bbox splitting at the beam centre is
# tested with the integrator, tests/cli_integrate); a frame with a few dummy pixels (-2).
NY, NX, PIX = 160, 150, 1e-4
rng = np.random.default_rng(15)
frame = rng.uniform(50, 150, (NY, NX)).astype(np.float32)
frame[rng.integers(0, NY, 40), rng.integers(0, NX, 40)] = -2
with h5py.File("frame.h5", "w") as f:
    f.create_dataset("entry/data/data", data=frame[None], chunks=(1, NY, NX))
files = {}
for name, arr in {"dark1": rng.uniform(0, 5, (NY, NX)), "dark2": rng.uniform(0, 5, (NY, NX)),
                  "flat1": rng.uniform(0.9, 1.1, (NY, NX)), "flat2": rng.uniform(0.9, 1.1, (NY, NX))}.items():
    files[name] = os.path.join(wd, name + ".edf")
    fabio.edfimage.EdfImage(data=arr.astype(np.float32)).write(files[name])
mf = fabio.edfimage.EdfImage(data=rng.uniform(0, 5, (NY, NX)).astype(np.float32))
mf.append_frame(data=rng.uniform(0, 5, (NY, NX)).astype(np.float32))
files["dark_mf"] = os.path.join(wd, "dark_mf.edf")
mf.write(files["dark_mf"])  # two frames: alone its first counts, in a list both (pyFAI)
mask = np.zeros((NY, NX), np.uint8)
mask[70:75, :] = 1
files["mask"] = os.path.join(wd, "mask.edf")
fabio.edfimage.EdfImage(data=mask).write(files["mask"])

GEOM = {"dist": 0.05, "poni1": -0.0021, "poni2": 0.0083, "rot1": 0.02, "rot2": -0.01, "rot3": 0.0,
        "wavelength": 1e-10}
DETCFG = {"pixel1": PIX, "pixel2": PIX, "max_shape": [NY, NX]}
PONI = dict(GEOM, poni_version=2, detector="Detector", detector_config=DETCFG)


INPUT = ["frame.h5", frame]  # what the cases integrate: the synthetic frame, then the real one


def pyfai_run(cfg):
    w = Worker()
    w.output = "raw"
    w.set_config(copy.deepcopy(cfg))
    return w.process(INPUT[1].copy())


def azstream(cfg_path, *opts):
    if os.path.exists("out.h5"):
        os.remove("out.h5")
    return subprocess.run([AZ, "integrate", INPUT[0], "--quiet", "--config", cfg_path, "-o", "out.h5",
                           *opts], capture_output=True, text=True)


def compare(label, cfg_path, ref):
    p = azstream(cfg_path)
    if p.returncode:
        check(False, "%s: azstream exit %d: %s" % (label, p.returncode, p.stderr.strip()))
        return None
    with h5py.File("out.h5", "r") as f:
        r = f["entry/result"]
        rad, I = r["radial_axis"][()], r["I"][0]
        azim = r["azimuthal_axis"][()] if "azimuthal_axis" in r else None
        sig = r["I_errors"][0] if "I_errors" in r else None
        stored = f["entry/reduction/input/configuration"][()]
    refI = np.asarray(ref.intensity)
    if I.shape != refI.shape:
        check(False, "%s: shape %s, pyFAI %s" % (label, I.shape, refI.shape))
        return None
    e = {"radial": np.max(np.abs(rad - ref.radial) / np.abs(ref.radial))}
    if azim is not None:
        e["azim"] = np.max(np.abs(azim - ref.azimuthal) / np.max(np.abs(ref.azimuthal)))
    full = np.asarray(ref.count).reshape(refI.shape) > 0
    nz = full & (refI != 0)
    e["I"] = np.max(np.abs(I[nz] - refI[nz]) / np.abs(refI[nz]), initial=0.0)
    empty_ok = np.array_equal(I[~full], refI[~full])
    sig_ok = (sig is None) == (ref.sigma is None)
    if sig is not None and ref.sigma is not None:
        rs = np.asarray(ref.sigma)
        sn = full & (rs != 0)
        e["sigma"] = np.max(np.abs(sig[sn] - rs[sn]) / np.abs(rs[sn]), initial=0.0)
    bad = e["radial"] > TOL_RAD or e.get("azim", 0) > TOL_RAD or e["I"] > TOL_I or \
        e.get("sigma", 0) > TOL_I or not empty_ok or not sig_ok
    txt = " ".join("%s=%.2e" % kv for kv in e.items())
    print("%s %-40s %s%s%s" % ("FAIL" if bad else "ok  ", label, txt, "" if empty_ok else " (empty bins differ)",
                               "" if sig_ok else " (sigma present in one only)"), flush=True)
    check(not bad, "%s: %s" % (label, txt))
    for k, v in e.items():
        worst[k] = max(worst.get(k, 0), v)
    return json.loads(stored)


def same_meaning(label, a, b):
    """Two WorkerConfigs mean the same integration (the fields azstream reads)."""
    def split(m):
        return (m.split if hasattr(m, "split") else m[0]) if m is not None else None

    def files_of(v):
        return None if not v else ([v] if isinstance(v, str) else list(v))

    def nb(v):
        return v if v and v > 1 else 1

    def em(v):  # hybrid is Poisson's sigma outside sigma clipping (measured)
        return 2 if int(v) == 4 else int(v)

    def rng_(v):  # pyFAI 2026.9 drops a half-open range
        return None if v is None or not np.all(np.isfinite(v)) else list(v)

    diffs = []
    for k, x, y in [("nbpt_rad", a.nbpt_rad, b.nbpt_rad), ("nbpt_azim", nb(a.nbpt_azim), nb(b.nbpt_azim)),
                    ("unit", str(a.unit or "2th_deg"), str(b.unit or "2th_deg")),
                    ("split", split(a.method) or "no", split(b.method) or "no"),
                    ("polarization", tuple(a.polarization_description or (None, 0)),
                     tuple(b.polarization_description or (None, 0))),
                    ("val_dummy", a.val_dummy, b.val_dummy), ("delta_dummy", a.delta_dummy or None, b.delta_dummy or None),
                    ("mask", files_of(a.mask_file), files_of(b.mask_file)),
                    ("dark", files_of(a.dark_current), files_of(b.dark_current)),
                    ("flat", files_of(a.flat_field), files_of(b.flat_field)),
                    ("solid_angle", bool(a.correct_solid_angle), bool(b.correct_solid_angle)),
                    ("error_model", em(a.error_model), em(b.error_model)),
                    ("normalization", a.normalization_factor or 1.0, b.normalization_factor or 1.0),
                    ("radial_range", rng_(a.radial_range), rng_(b.radial_range)),
                    ("azimuth_range", rng_(a.azimuth_range), rng_(b.azimuth_range))]:
        if x != y and not (isinstance(x, (list, tuple)) and y is not None and list(x) == list(y)):
            diffs.append("%s %r != %r" % (k, x, y))
    check(not diffs, "%s: pyFAI reads azstream's stored configuration differently: %s" % (label, "; ".join(diffs)))
    print("%s %-40s %s" % ("FAIL" if diffs else "ok  ", label + " (from_dict)", "; ".join(diffs) or "same meaning"))


def case(label, cfg, path=None):
    """cfg: a dict, saved as JSON (Python's json: Infinity as pyFAI writes it)."""
    path = path or label.replace(" ", "_") + ".json"
    if not os.path.exists(path):
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
    with open(path) as f:
        cfg = json.load(f)
    ref = pyfai_run(cfg)
    stored = compare(label, path, ref)
    if stored is None:
        return
    # pyFAI reads what azstream stored with the same meaning, and runs it to the same numbers.
    same_meaning(label, WorkerConfig.from_dict(copy.deepcopy(cfg)), WorkerConfig.from_dict(copy.deepcopy(stored)))
    with open(path + ".stored.json", "w") as f:
        json.dump(stored, f)
    compare(label + " (pyFAI re-runs stored)", path, pyfai_run(stored))


# ---- version 5, written by pyFAI itself
ai = AzimuthalIntegrator(detector=Detector(PIX, PIX, max_shape=(NY, NX)), **GEOM)
base = Worker(ai, shapeOut=(1, 120), unit="q_nm^-1").get_worker_config().as_dict()
v5 = []
c = dict(base, nbpt_rad=120, nbpt_azim=1, method=["full", "csr", "cython"], error_model="poisson",
         polarization_description=[0.95, 0], correct_solid_angle=False, normalization_factor=2.5,
         dark_current=[files["dark1"], files["dark2"]], flat_field=[files["flat1"], files["flat2"]],
         mask_file=files["mask"], radial_range=[5.0, 60.0], val_dummy=-2.0, delta_dummy=0.5)
v5.append(("v5 1D full poisson darks flats", c))
c = dict(base, nbpt_rad=100, nbpt_azim=36, unit="2th_deg", method=["bbox", "csr", "cython"],
         error_model="azimuthal", azimuth_range=[-90.0, 90.0], integrator_method="integrate2d_ng",
         dark_current=files["dark1"], val_dummy=-2.0)
v5.append(("v5 2D bbox azimuthal", c))
c = dict(base, nbpt_rad=80, nbpt_azim=1, unit="r_mm", method=[None, "csr", None], error_model="hybrid",
         flat_field=[files["flat2"]], val_dummy=-2.0, delta_dummy=None, radial_range=[1.0, float("inf")])
v5.append(("v5 1D nosplit hybrid half-open", c))
c = dict(base, nbpt_rad=90, nbpt_azim=24, unit="q_A^-1", method=["no", "csr", "cython"],
         error_model="poisson", val_dummy=-2.0, delta_dummy=1.5)
v5.append(("v5 2D nosplit poisson", c))
c = dict(base, nbpt_rad=110, nbpt_azim=1, method=["bbox", "csr", "cython"],
         dark_current=[files["dark_mf"], files["dark2"]], flat_field=files["dark_mf"])
v5.append(("v5 1D multi-frame files", c))
c = dict(base, nbpt_rad=70, nbpt_azim=30, method=["bbox", "csr", "cython"], chi_discontinuity_at_0=True,
         azimuth_range=[100.0, 300.0], integrator_method="integrate2d_ng")
v5.append(("v5 2D bbox chi disc at 0", c))
c = dict(base, nbpt_rad=70, nbpt_azim=1, method=["no", "csr", "cython"], chi_discontinuity_at_0=True,
         azimuth_range=[350.0, 10.0])
v5.append(("v5 1D nosplit chi disc at 0 across 0", c))
for label, c in v5:
    path = label.replace(" ", "_") + ".json"
    WorkerConfig.from_dict(c).save(path)  # pyFAI writes the file
    case(label, None, path)

# ---- versions 1 to 4, written by hand as pyFAI-integrate did
v1 = dict(GEOM, detector="detector", pixel1=PIX, pixel2=PIX, shape=[NY, NX], splineFile=None, do_2D=False,
          nbpt_rad=100, nbpt_azim=1, unit="q_nm^-1", do_mask=True, mask_file=files["mask"], do_dark=True,
          dark_current="%s, %s" % (files["dark1"], files["dark2"]), do_flat=False, flat_field=files["flat1"],
          do_polarization=True, polarization_factor=0.99, do_dummy=True, val_dummy=-2, delta_dummy=1.5,
          do_solid_angle=False, do_radial_range=False, do_azimuthal_range=False, method="bbox_csr",
          chi_discontinuity_at_0=False, do_OpenCL=False)
case("v1 1D", v1)
v2 = dict(GEOM, application="pyfai-integrate", version=2, detector="Detector", detector_config=DETCFG,
          do_mask=False, mask_file="", do_dark=True, dark_current=[files["dark1"], files["dark2"]], do_flat=True,
          flat_field=[files["flat1"]], do_polarization=True, polarization_factor=0.99, do_dummy=False,
          val_dummy=-1, do_2D=True, nbpt_rad=100, nbpt_azim=36, unit="2th_deg", do_radial_range=False,
          do_azimuthal_range=True, azimuth_range_min=-100, azimuth_range_max=80, do_solid_angle=True,
          do_poisson=False, method="csr")  # Poisson + dark in 2D: see doc/integration.md, pyFAI configs
case("v2 2D csr string", v2)
v3 = dict(GEOM, application="pyfai-integrate", version=3, detector="Detector", detector_config=DETCFG,
          do_mask=True, mask_file=files["mask"], do_dark=False, dark_current=None, do_flat=False,
          flat_field=None, do_polarization=False, polarization_factor=0.5, do_dummy=True, val_dummy=-2.0,
          delta_dummy=1.5, do_2D=False, nbpt_rad=100, nbpt_azim=1, unit="r_mm", do_radial_range=True,
          radial_range_min=0.5, radial_range_max=12.0, do_azimuthal_range=False, chi_discontinuity_at_0=False,
          do_solid_angle=True, do_poisson=False, method=["full", "csr", "cython"], normalization_factor=3.0,
          monitor_name="mon")
case("v3 1D full list", v3)
v4 = dict(application="pyfai-integrate", version=4, poni=PONI, do_mask=False, mask_file=files["mask"],
          do_dark=False, dark_current="", do_flat=True, flat_field=files["flat1"], do_polarization=True,
          polarization_factor=0.99, do_dummy=True, dummy=-2, delta_dummy=None, do_2D=False, nbpt_rad=100,
          nbpt_azim=36, unit="q_nm^-1", do_radial_range=False, do_azimuthal_range=False, do_solid_angle=False,
          error_model="azimuthal", method=["bbox", "csr", "cython"], opencl_device=None,
          integrator_name="integrate1d_ng", extra_options=None, normalization_factor=1.0, monitor_name=None)
case("v4 do_2D false ignored", v4)

# ---- a key not understood: exit 2, naming it and the file
for label, extra in [("unknown key", {"frobnicate": 1}), ("mistyped key", {"nbpt_rd": 100}),
                     ("mistyped value", {"error_model": "poison"})]:
    cfg = dict(json.load(open("v4_do_2D_false_ignored.json")), **extra)
    path = label.replace(" ", "_") + ".json"
    json.dump(cfg, open(path, "w"))
    p = azstream(path)
    key = list(extra)[0]
    ok = p.returncode == 2 and key in p.stderr and path in p.stderr
    print("%s %-40s exit %d: %s" % ("ok  " if ok else "FAIL", label, p.returncode, p.stderr.strip()[:150]))
    check(ok, "%s: exit %d, %s" % (label, p.returncode, p.stderr.strip()))

# ---- the real Eiger 4M frame (uint32, the detector's dummy), a named detector in the stored poni
REAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "real")
import hdf5plugin  # noqa: E402,F401
with h5py.File(os.path.join(REAL, "eiger4m_real_frame_bslz4.h5"), "r") as f:
    INPUT[:] = [os.path.join(REAL, "eiger4m_real_frame_bslz4.h5"), f["entry/data/data"][0]]
rai = pyFAI.load(os.path.join(REAL, "poni", "maxiv_azint_bench_Eiger4M.poni"))
c = dict(Worker(rai, shapeOut=(1, 500), unit="q_nm^-1").get_worker_config().as_dict(), nbpt_rad=500,
         nbpt_azim=1, method=["bbox", "csr", "cython"], polarization_description=[0.99, 0])
WorkerConfig.from_dict(c).save("v5_real_eiger.json")
case("v5 real Eiger 4M 1D", None, "v5_real_eiger.json")

print("worst:", " ".join("%s=%.2e" % kv for kv in worst.items()))
finish("pyFAI configs")
