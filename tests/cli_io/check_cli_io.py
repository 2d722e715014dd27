"""CLI tests of `azstream info` and `azstream export`: exit codes (0 ok, 1 runtime error,
2 usage error), messages naming the problem, and exported arrays equal to h5py's
(+ hdf5plugin) arrays. Usage: check_cli_io.py AZSTREAM DATA_DIR WORK_DIR"""
import os
import subprocess
import sys

import h5py
import hdf5plugin  # noqa: F401  (registers the reference filters for h5py)
import numpy as np

exe, data, work = sys.argv[1], sys.argv[2], sys.argv[3]
real = os.path.join(data, "real")
os.makedirs(work, exist_ok=True)
failures = []


def run(args, code, *needles, stream="stderr"):
    r = subprocess.run([exe] + args, capture_output=True, text=True)
    text = getattr(r, stream)
    ok = r.returncode == code and all(n in text for n in needles)
    print(("ok   " if ok else "FAIL ") + " ".join(args[:3]) + f" -> {r.returncode}")
    if not ok:
        failures.append(f"{args}: exit {r.returncode} (want {code}); {stream}: {text!r}")
    return r


e4 = os.path.join(real, "eiger4m_real_frame_bslz4.h5")
master = os.path.join(real, "dectris/dataset_artificial_large_001/test_master.h5")
vds = os.path.join(real, "diamond_vds_master/Therm_6_2.nxs")
hv = os.path.join(real, "dectris/datasets_different_h5ver/dataset_v110.h5")

# usage errors: exit 2
run(["info"], 2, "missing FILE")
run(["info", e4, "--bogus"], 2, "--bogus")
run(["info", e4, "--dataset"], 2, "--dataset")
run(["export", e4], 2, "-o")
run(["export", e4, "-o", os.path.join(work, "x.txt")], 2, ".npy")
run(["export", e4, "--frames", "3:1", "-o", os.path.join(work, "x.npy")], 2, "--frames")
run(["export", e4, "--frames", "abc", "-o", os.path.join(work, "x.npy")], 2, "abc")
# runtime errors: exit 1, message names the thing
run(["info", os.path.join(work, "missing.h5")], 1, "missing.h5")
run(["info", e4, "--dataset", "/entry/nope"], 1, "/entry/nope")
run(["info", vds], 1, "Therm_6_2_000001.h5")
run(["export", e4, "--frames", "5:9", "-o", os.path.join(work, "x.npy")], 1, "out of range")
run(["export", vds, "-o", os.path.join(work, "x.npy")], 1, "Therm_6_2_000001.h5")
if os.path.exists(os.path.join(work, "x.npy")):
    failures.append("a failed export left its output behind")

# info content
r = run(["info", e4], 0, "frames:      1", "(1, 2167, 2070)", "uint32", "32008",
        "(0, 2, 4, 0, 2)", "ratio", "pread", stream="stdout")
# the master links 1000 data files, 3 of which are here: said, not silently cut to 15 frames
run(["info", master], 1, "test_data_000004.h5", "frames 15..19", "--allow-missing")
r = run(["info", master, "--allow-missing"], 0, "parts:       1000", "test_data_000003.h5",
        "[10, 15)", "lz4", "missing:     997 data files, 4985 frames", "(missing)", stream="stdout")
r = run(["info", hv, "--dataset", "/data/sub_soft/chunked_external"], 0,
        "dataset_v110_external.h5", stream="stdout")

# export equals h5py
def export_eq(name, args, want, fmt="npy"):
    out = os.path.join(work, f"{name}.{fmt}")
    r = run(["export"] + args + ["-o", out], 0)
    if r.returncode:
        return
    if fmt == "npy":
        got = np.load(out)
        same = got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
    else:
        same = open(out, "rb").read() == np.ascontiguousarray(want).astype(want.dtype.newbyteorder("<")).tobytes()
    if not same:
        failures.append(f"export {name}: differs from h5py")
        print(f"FAIL export {name} differs")


with h5py.File(e4, "r") as f:
    export_eq("eiger4m", [e4], f["/entry/data/data"][()])
with h5py.File(master, "r") as f:
    want = np.concatenate([f[f"/entry/data/data_00000{i}"][()] for i in (1, 2, 3)])
    am = [master, "--allow-missing"]
    export_eq("master_all", am + ["--frames", "0:15"], want)
    export_eq("master_3_12", am + ["--frames", "3:12"], want[3:12])
    export_eq("master_7", am + ["--frames", "7"], want[7:8])
    export_eq("master_raw", am + ["--frames", "4:15"], want[4:], fmt="raw")
run(["export", master, "--allow-missing", "--frames", "14:16", "-o", os.path.join(work, "m.npy")],
    1, "test_data_000004.h5")
e2 = os.path.join(real, "dectris/datasets_eiger2/eiger2_simread7_2datafiles_4images_bslz4_uint8_data_000002.h5")
with h5py.File(e2, "r") as f:
    export_eq("eiger2_u8", [e2, "--dataset", "/entry/data/data"], f["/entry/data/data"][()])
with h5py.File(hv, "r") as f:
    export_eq("h5ver_not_chunked", [hv, "-d", "/data/not_chunked_external"],
              f["/data/not_chunked_external"][()])

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("all cli io checks passed")
