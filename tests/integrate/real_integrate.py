"""Real data: the Eiger 4M frame (hdf5plugin test file) with the MAX IV Eiger 4M PONI, and
the SSRL Pilatus 300K-W LaB6 frame with its PONI and the .xy profile an older pyFAI made.

Our side starts from the PONI file (geometry module + azs_integrator_create); pyFAI, run
here, is the tight reference (same criteria as golden_integrate.py: radial 1e-6 relative,
I 1e-5 of the max); the .xy is a loose independent check (older pyFAI: median relative
error ~1e-4).

usage: real_integrate.py INTEGRATE_TOOL WORKDIR SHARED_DATA_DIR
"""
import os
import sys

import numpy as np

import golden_integrate as g  # argv[1], argv[2] are read there

try:
    import fabio
    import h5py
    import hdf5plugin  # noqa: F401 (registers the bitshuffle filter)
    import pyFAI
except ImportError as e:
    print("skip:", e)
    sys.exit(77)

DATA = sys.argv[3]
EIGER = os.path.join(DATA, "real", "eiger4m_real_frame_bslz4.h5")
EIGER_PONI = os.path.join(DATA, "real", "poni", "maxiv_azint_bench_Eiger4M.poni")
PIL = os.path.join(DATA, "real", "ssrl_pilatus300k_LaB6")
if not (os.path.exists(EIGER) and os.path.exists(PIL)):
    print("skip: shared data missing")
    sys.exit(77)


def main():
    os.makedirs(g.WORK, exist_ok=True)
    failed = []
    # Eiger 4M: gaps/bad pixels hold 0xFFFFFFFF -> dummy; the detector mask (gaps) on both sides
    with h5py.File(EIGER, "r") as f:
        frame = f["/entry/data/data"][0]
    ai = pyFAI.load(EIGER_PONI)
    shape = ai.detector.max_shape
    assert frame.shape == tuple(shape), (frame.shape, shape)
    cases = [("no", 0, 1000), ("bbox", 0, 1000), ("full", 0, 1000), ("bbox", 360, 500)]
    for split, npt_azim, npt in cases:
        o = dict(solid_angle=True, polarization=0.99, dummy=4294967295.0, npt=npt,
                 via_poni=True, poni_path=EIGER_PONI)
        ai.reset()
        err, msg = g.run_case("eiger4m", split, npt_azim, "q_nm^-1", o, frame, via_poni=True, ai=ai)
        label = "eiger4m real  %-4s %s q_nm^-1" % (split, "2D" if npt_azim else "1D")
        if err is None:
            print("FAIL", label, msg)
            failed.append(label)
            continue
        bad = err["radial"] > g.TOL_RAD or err.get("azim", 0) > g.TOL_RAD or err["I"] > g.TOL_I
        print("%s %s %s" % ("FAIL" if bad else "ok  ", label,
                            " ".join("%s=%.2e" % kv for kv in err.items())))
        if bad:
            failed.append(label)

    # Pilatus 300K-W LaB6: 1024 points, 2th_deg, detector mask, no polarization, bbox
    tif = os.path.join(PIL, "b_toney_lab6_th3_scan1_0008.tif")
    poni = os.path.join(PIL, "b_toney_lab6_th3_scan1_0008.poni")
    xy = np.loadtxt(os.path.join(PIL, "b_toney_lab6_th3_scan1_0008.xy"))
    img = fabio.open(tif).data
    ai = pyFAI.load(poni)
    o = dict(solid_angle=True, npt=1024, via_poni=True, poni_path=poni)
    err, msg = g.run_case("pilatus", "bbox", 0, "2th_deg", o, np.ascontiguousarray(img),
                          via_poni=True, ai=ai)
    label = "pilatus300kw real bbox 1D 2th_deg"
    if err is None:
        print("FAIL", label, msg)
        failed.append(label)
    else:
        bad = err["radial"] > g.TOL_RAD or err["I"] > g.TOL_I
        print("%s %s vs pyFAI today: %s" % ("FAIL" if bad else "ok  ", label,
                                            " ".join("%s=%.2e" % kv for kv in err.items())))
        if bad:
            failed.append(label)
        rad, I = g.run_case.last_ours
        rr = np.abs(rad - xy[:, 0]) / xy[:, 0]
        ok = I != 0
        rel = np.abs(I[ok] - xy[ok, 1]) / np.abs(xy[ok, 1])
        med, worst = np.median(rel), rel.max()
        bad = rr.max() > 1e-5 or med > 5e-4 or worst > 0.02
        print("%s %s vs the old .xy: radial %.2e, I median rel %.2e, worst %.2e" %
              ("FAIL" if bad else "ok  ", label, rr.max(), med, worst))
        if bad:
            failed.append(label + " (.xy)")
    if failed:
        print("%d case(s) failed" % len(failed))
        return 1
    print("all real-data cases within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
