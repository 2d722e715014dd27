#!/usr/bin/env python3
"""Standard results (include/azstream/sink.h, doc/design.md "Sinks"): HDF5 outputs that
nexusformat's validator accepts as NXazint1d / NXazint2d with no error and no warning,
whose default NXdata silx finds, whose stored configuration pyFAI's WorkerConfig reads with
the run's meaning, and whose NXazint facts (corrections applied, wavelength, energy, units,
edges, norm) are the run's.
usage: test_nexus.py AZSTREAM WORKDIR LAYOUT      (threads, procs, mpi, gpu)
Skips (77) without nexusformat or silx, mpi without mpirun, gpu without a device."""
import contextlib, io, json, os, re, shutil, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli_integrate"))
import numpy as np
import h5py
import make_stack
from e2e import check, finish, fresh_workdir

try:
    import nexusformat  # noqa: F401
    import silx.io.nxdata
    from pyFAI.io.integration_config import WorkerConfig
except ImportError as e:
    print("skipped:", e)
    sys.exit(77)

import logging
logging.getLogger("pyFAI").setLevel(logging.ERROR)
az = os.path.abspath(sys.argv[1])
wd = fresh_workdir(sys.argv[2])
layout = sys.argv[3]
NY, NX = 96, 80
mpirun = shutil.which("mpirun")
if layout == "mpi" and not mpirun:
    print("no mpirun: skipped")
    sys.exit(77)


def integrate(out, *extra):
    cmd = [az, "integrate", "s.h5", "--poni", "g.poni", "--npt", "120", "-o", out, "--quiet",
           "--layout", layout, *map(str, extra)]
    if layout == "mpi":
        cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2"] + cmd
    elif layout == "procs":
        cmd += ["--workers", "2"]
    env = os.environ
    if layout == "mpi":  # as tests/mpi: Open MPI's dlclose'd plugins keep allocations LeakSanitizer cannot name
        env = dict(env, ASAN_OPTIONS=(env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":"))
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def validate(path, definition):
    """nexusformat's nxvalidate: (warnings, errors, its report)."""
    r = subprocess.run([sys.executable, "-c", "from nexusformat.scripts.nxvalidate import main; main()",
                        "-a", definition, path], capture_output=True, text=True)
    text = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout + r.stderr)
    w = re.search(r"Total number of warnings: (\d+)", text)
    e = re.search(r"Total number of errors: (\d+)", text)
    if not w or not e:
        return -1, -1, text
    return int(w.group(1)), int(e.group(1)), text


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


make_stack.write_poni("g.poni", NY, NX)
r = subprocess.run([az, "synth", "-o", "s.h5", "--poni", "g.poni", "--frames", "12"], capture_output=True, text=True)
assert r.returncode == 0, r.stderr

cases = [("1d.h5", "NXazint1d", ["--error-model", "poisson", "--polarization", "0.95"]),
         ("2d.h5", "NXazint2d", ["--npt-azim", "16", "--unit", "2th_deg", "--normalization-factor", "2"])]
for out, definition, extra in cases:
    r = integrate(out, *extra)
    if layout == "gpu" and r.returncode != 0 and re.search(r"CUDA|GPU|gpu|device|unsupported", r.stderr):
        print("no GPU here: skipped:", r.stderr.strip())
        sys.exit(77)
    check(r.returncode == 0, f"{layout} {out}: exit {r.returncode}: {r.stderr}")
    if r.returncode:
        continue
    w, e, report = validate(out, definition)
    check(w == 0 and e == 0, f"{layout} {out}: nxvalidate -a {definition}: {w} warnings, {e} errors\n{report}")
    print(f"{layout} {out}: nxvalidate -a {definition}: {w} warnings, {e} errors")

    info = subprocess.run([az, "info", out], capture_output=True, text=True)
    check(info.returncode == 0 and definition in info.stdout and "12 written, 0 bad" in info.stdout,
          f"azstream info {out}: {info.returncode} {info.stdout}{info.stderr}")
    with h5py.File(out, "r") as f:
        nxd = silx.io.nxdata.get_default(f)
        check(nxd is not None and nxd.is_valid, f"{out}: silx finds no valid default NXdata")
        if nxd is not None:
            check(nxd.signal.name == "/entry/result/I" and nxd.signal.shape[0] == 12,
                  f"{out}: silx's signal {nxd.signal.name}")
            want = "spectrum" if definition == "NXazint1d" else "image"
            check(nxd.interpretation == want, f"{out}: silx reads interpretation {nxd.interpretation}, want {want}")
            names = [a for a in nxd.axes_dataset_names if a]
            check(names == (["radial_axis"] if want == "spectrum" else ["azimuthal_axis", "radial_axis"]),
                  f"{out}: silx's axes {nxd.axes_dataset_names}")
        ent = f["entry"]
        check(s(ent["definition"][()]) == definition, f"{out}: definition")
        check(bool(ent["solid_angle_applied"][()]) is True, f"{out}: solid_angle_applied")
        check(bool(ent["polarization_applied"][()]) == ("--polarization" in extra), f"{out}: polarization_applied")
        check(bool(ent["normalization_applied"][()]) is True, f"{out}: normalization_applied")
        check(bool(ent["monitor_applied"][()]) == ("--normalization-factor" in extra), f"{out}: monitor_applied")
        mono = ent["instrument/monochromator"]
        check(np.isclose(mono["wavelength"][()], 1.0) and s(mono["wavelength"].attrs["units"]) == "angstrom",
              f"{out}: wavelength {mono['wavelength'][()]} (the PONI's 1e-10 m)")
        check(np.isclose(mono["energy"][()], 12.398419843320026) and s(mono["energy"].attrs["units"]) == "keV",
              f"{out}: energy {mono['energy'][()]}")
        res = ent["result"]
        rad = res["radial_axis"]
        unit = "2th_deg" if "2th_deg" in extra else "q_nm^-1"
        check(s(rad.attrs["pyfai_unit"]) == unit and s(rad.attrs["units"]) == {"2th_deg": "degree",
              "q_nm^-1": "1/nm"}[unit], f"{out}: radial units {dict(rad.attrs)}")
        c = rad[()]
        edges = res["radial_axis_edges"][()]
        check(edges.shape == (121,) and np.allclose(0.5 * (edges[1:] + edges[:-1]), c, rtol=1e-12, atol=0),
              f"{out}: the edges are not around the centres")
        norm = res["norm"][()]
        check(norm.shape == res["I"].shape[1:] and (norm >= 0).all() and norm.max() > 0, f"{out}: norm {norm.shape}")
        check(res["frame"].shape == (12,) and list(res["frame_status"][()]) == [0] * 12, f"{out}: frame rows")
        red = ent["reduction"]
        for k in ("program", "version", "date", "reference"):
            check(k in red, f"{out}: reduction/{k} missing")
        full = json.loads(red["input/configuration"][()])
        for stored in (full, json.loads(red["input/pyfai_config"][()])):
            with contextlib.redirect_stdout(io.StringIO()):  # it prints the keys it does not know
                wc = WorkerConfig.from_dict(dict(stored))
            check(wc.nbpt_rad == 120 and (wc.nbpt_azim or 1) == (16 if "--npt-azim" in extra else 1) and
                  str(wc.unit) == unit and np.isclose(wc.poni.wavelength, 1e-10),
                  f"{out}: pyFAI's WorkerConfig reads {wc.nbpt_rad} {wc.nbpt_azim} {wc.unit}")
            if "--polarization" in extra:
                check(np.isclose(wc.polarization_factor, 0.95), f"{out}: polarization {wc.polarization_factor}")
        check(full["inputs"] == ["s.h5"], f"{out}: the full configuration names the inputs")
finish("nexus " + layout)
