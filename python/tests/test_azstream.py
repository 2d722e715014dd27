"""The azstream Python package against pyFAI (run here) and against the azstream command.

- integrate1d / integrate2d on the real Eiger 4M frame (tests/data) equal pyFAI's
  integrate1d_ng / integrate2d_ng: radial and azimuthal centres within 1e-6 relative, I
  and sigma within 1e-5 relative in every bin pyFAI counts pixels in; pyFAI's keywords
  (unit, method, ranges, mask, dark, flat, dummy, polarization, solid angle, normalization,
  error model) mean what they mean in pyFAI;
- the frame's compressed chunk (h5py's read_direct_chunk) gives the decoded frame's profile
  bit for bit; integrate_many gives integrate1d's;
- integrate_file equals the CLI's output (float32 rows) and writes the same file;
- a repeated call reuses the integrator; errors raise azstream.Error with the library's
  detail; two Python threads give the same results as one.

Environment: AZS_TEST_DATA (tests/data), AZS_CLI (the azstream command), PYTHONPATH with
the built package. Runs under pytest, or alone (run_tests.py)."""
import logging
import os
import subprocess
import tempfile
import threading

import h5py
import hdf5plugin  # noqa: F401  (the bitshuffle filter for h5py)
import numpy as np
import pyFAI

import azstream

logging.getLogger("pyFAI").setLevel(logging.ERROR)
DATA = os.environ.get("AZS_TEST_DATA", os.path.join(os.path.dirname(__file__), "../../tests/data"))
H5 = os.path.join(DATA, "real/eiger4m_real_frame_bslz4.h5")
PONI = os.path.join(DATA, "real/poni/maxiv_azint_bench_Eiger4M.poni")
TOL_RAD, TOL_I = 1e-6, 1e-5

_frame = None
_pyfai = None


def frame():
    global _frame
    if _frame is None:
        with h5py.File(H5, "r") as f:
            _frame = f["entry/data/data"][0]
    return _frame


def pyfai_ai():
    global _pyfai
    if _pyfai is None:
        _pyfai = pyFAI.load(PONI)
    return _pyfai


def chunk():
    with h5py.File(H5, "r") as f:
        d = f["entry/data/data"]
        _, raw = d.id.read_direct_chunk((0, 0, 0))
        return bytes(raw), d.shape[1:], d.dtype


def close_to_pyfai(label, ours, ref, azimuthal=False):
    """pyFAI's acceptance of the CLI tests (tests/cli_integrate/defaults_pyfai.py)."""
    I, refI = np.asarray(ours.intensity), np.asarray(ref.intensity)
    assert I.shape == refI.shape, f"{label}: shape {I.shape}, pyFAI {refI.shape}"
    erad = np.max(np.abs(ours.radial - ref.radial) / np.abs(ref.radial))
    assert erad <= TOL_RAD, f"{label}: radial off by {erad:.2e}"
    if azimuthal:
        eaz = np.max(np.abs(ours.azimuthal - ref.azimuthal) / np.max(np.abs(ref.azimuthal)))
        assert eaz <= TOL_RAD, f"{label}: azimuthal off by {eaz:.2e}"
    counted = np.asarray(ref.count).reshape(refI.shape) > 0
    pairs = [("I", I, refI)]
    if ref.sigma is not None:
        assert ours.sigma is not None, f"{label}: no sigma"
        pairs.append(("sigma", np.asarray(ours.sigma), np.asarray(ref.sigma)))
    for name, a, b in pairs:
        nz = counted & (b != 0)
        rel = np.abs(a[nz] - b[nz]) / np.abs(b[nz])
        assert rel.size and rel.max() <= TOL_I, f"{label}: {name} off by {rel.max():.2e} " \
            f"in {int(np.sum(rel > TOL_I))} of {rel.size} bins"
        assert np.array_equal(a[~counted], b[~counted]), f"{label}: {name} of empty bins"
    print(f"ok {label}: radial {erad:.1e}")


def test_integrate1d_defaults_and_poisson():
    ai = azstream.load(PONI)
    for kw in ({}, {"error_model": "poisson"}):
        close_to_pyfai(f"1d {kw}", ai.integrate1d(frame(), 1000, **kw),
                       pyfai_ai().integrate1d_ng(frame(), 1000, **kw))


def test_integrate1d_keywords():
    """pyFAI's keywords, several at once: no split, 2th_deg, ranges, a mask array, dark,
    flat, polarization, no solid angle, normalization, an explicit dummy, azimuthal errors."""
    f = frame()
    ny, nx = f.shape
    rng = np.random.default_rng(3)
    mask = np.zeros(f.shape, np.int8)
    mask[1000:1100, 500:900] = 1
    mask |= (f == np.uint32(0xFFFFFFFF)).astype(np.int8)
    dark = rng.uniform(0, 2, f.shape).astype(np.float32)
    flat = rng.uniform(0.9, 1.1, f.shape).astype(np.float32)
    kw = dict(unit="2th_deg", method=("no", "csr", "cython"), radial_range=(2.0, 30.0),
              azimuth_range=(-120.0, 100.0), mask=mask, dark=dark, flat=flat,
              polarization_factor=0.95, correctSolidAngle=False, normalization_factor=2.5,
              dummy=4294967295, delta_dummy=0.5, error_model="azimuthal")
    close_to_pyfai("1d keywords", azstream.load(PONI).integrate1d(f, 700, **kw),
                   pyfai_ai().integrate1d_ng(f, 700, **kw))


def test_integrate2d():
    kw = dict(unit="q_nm^-1", method=("bbox", "csr", "cython"), error_model="poisson")
    close_to_pyfai("2d", azstream.load(PONI).integrate2d(frame(), 300, 36, **kw),
                   pyfai_ai().integrate2d_ng(frame(), 300, 36, **kw), azimuthal=True)


def test_chunk_equals_frame():
    raw, shape, dtype = chunk()
    ai = azstream.load(PONI)
    a = ai.integrate1d(frame(), 1000, error_model="poisson")
    b = ai.integrate1d(raw, 1000, shape=shape, dtype=dtype, error_model="poisson")
    assert np.array_equal(a.intensity, b.intensity) and np.array_equal(a.sigma, b.sigma)
    c = ai.integrate2d(raw, 200, 18, shape=shape, dtype=dtype)
    d = ai.integrate2d(frame(), 200, 18)
    assert np.array_equal(c.intensity, d.intensity)
    # many at once, on threads: integrate1d's rows
    it = ai.integrator(1000, shape=shape, dtype=dtype, error_model="poisson")
    many = it.integrate_many([raw, raw, raw], codec=azstream._azstream.CODEC_BSLZ4, threads=2)
    assert all(np.array_equal(many["intensity"][k], a.intensity) for k in range(3))


def test_cache_and_errors():
    ai = azstream.load(PONI)
    f = frame()
    ai.integrate1d(f, 100)
    ai.integrate1d(f, 100)
    assert len(ai._cache) == 1, "the same options, shape and dtype: one integrator"
    ai.integrate1d(f.astype(np.float32), 100)
    assert len(ai._cache) == 2, "another dtype: another integrator (the dummy depends on it)"
    for bad, words in (({"unit": "q_furlong"}, "q_furlong"), ({"method": "magic"}, "magic")):
        try:
            ai.integrate1d(f, 100, **bad)
        except azstream.ArgumentError as e:
            assert words in str(e) and e.status == 2, str(e)
        else:
            raise AssertionError(f"{bad} accepted")
    try:
        ai.integrate1d(f[:100], 100)
    except azstream.Error as e:
        assert "2167x2070" in str(e), str(e)
    else:
        raise AssertionError("a frame of another shape accepted")
    raw, shape, dtype = chunk()
    try:
        ai.integrate1d(raw[: len(raw) // 2], 100, shape=shape, dtype=dtype)
    except azstream.Error as e:
        assert "truncated" in str(e), str(e)
    else:
        raise AssertionError("a truncated chunk accepted")


def test_threads_same_results():
    ai = azstream.load(PONI)
    f = frame()
    ref = ai.integrate1d(f, 1000, error_model="poisson")
    out = [None] * 4

    def work(k):
        out[k] = ai.integrate1d(f, 1000, error_model="poisson")
    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(np.array_equal(o.intensity, ref.intensity) and np.array_equal(o.sigma, ref.sigma)
               for o in out)


def test_integrate_file_equals_cli():
    cli = os.environ.get("AZS_CLI")
    if not cli:
        print("skip integrate_file vs CLI: AZS_CLI not set")
        return
    with tempfile.TemporaryDirectory() as wd:
        for k, (extra, kw) in enumerate((([], {}), (["--npt-azim", "36", "--error-model", "poisson"],
                                                   {"npt_azim": 36, "error_model": "poisson"}))):
            out_cli = os.path.join(wd, "cli%d.h5" % k)  # outputs are never replaced silently
            subprocess.run([cli, "integrate", H5, "--poni", PONI, "--npt", "500", "--quiet",
                            "-o", out_cli, *extra], check=True)
            out_py = os.path.join(wd, "py%d.h5" % k)
            r = azstream.integrate_file(H5, PONI, layout="threads", workers=2, output=out_py,
                                        npt=500, **kw)
            with h5py.File(out_cli, "r") as a, h5py.File(out_py, "r") as b:
                Ic, Ip = a["entry/result/I"][()], b["entry/result/I"][()]
                assert np.array_equal(Ic, Ip), "the files' rows"
                assert np.array_equal(Ic, r["intensity"].astype(np.float32)), "the returned rows"
                assert np.array_equal(a["entry/result/radial_axis"][()], r["radial"])
                if "error_model" in kw:
                    assert np.array_equal(a["entry/result/I_errors"][()], r["sigma"].astype(np.float32))
            assert r["frame"].tolist() == [0] and r["frame_status"].tolist() == [0]
    # a pyFAI config dict where a PONI goes: its options apply, keywords override them
    geo = pyfai_ai()
    cfg = {"application": "pyfai-integrate", "version": 5,
           "poni": {"detector": "Eiger4M", "dist": geo.dist, "poni1": geo.poni1, "poni2": geo.poni2,
                    "rot1": geo.rot1, "rot2": geo.rot2, "rot3": geo.rot3,
                    "wavelength": geo.wavelength},
           "nbpt_rad": 300, "unit": "2th_deg", "method": ["bbox", "csr", "cython"]}
    r = azstream.integrate_file(H5, cfg)
    assert r["unit"] == "2th_deg" and r["intensity"].shape == (1, 300)
    r2 = azstream.integrate_file(H5, cfg, unit="q_nm^-1")
    assert r2["unit"] == "q_nm^-1"
    ai = azstream.load(cfg)
    one = ai.integrate1d(frame(), 300, unit="2th_deg")
    assert np.array_equal(one.intensity, r["intensity"][0])
