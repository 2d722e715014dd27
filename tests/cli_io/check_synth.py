"""`azstream synth`: the stack reads back through h5py + hdf5plugin (the reference
bitshuffle plugin) identically to what our source exports; gaps follow pyFAI's detector
mask; LaB6 rings sit where pyFAI's geometry puts the d-spacings; same seed, same pixels.
Usage: check_synth.py AZSTREAM DATA_DIR WORK_DIR"""
import os
import subprocess
import sys

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pyFAI
import pyFAI.detectors

exe, data, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
poni = os.path.join(data, "real/poni/maxiv_azint_bench_Eiger4M.poni")
failures = []


def run(args, code, *needles):
    r = subprocess.run([exe] + args, capture_output=True, text=True)
    ok = r.returncode == code and all(n in r.stderr for n in needles)
    print(("ok   " if ok else "FAIL ") + " ".join(args[:4]) + f" -> {r.returncode}")
    if not ok:
        failures.append(f"{args}: exit {r.returncode} (want {code}): {r.stderr!r}")
    return r


out = os.path.join(work, "synth.h5")
run(["synth", "--poni", poni, "--frames", "2"], 2, "-o")
run(["synth", "-o", out, "--frames", "2"], 2, "--poni")
run(["synth", "-o", out, "--poni", poni], 2, "--frames")
run(["synth", "-o", out, "--poni", poni, "--frames", "0"], 2, "--frames")
run(["synth", "-o", out, "--poni", poni, "--frames", "2", "--bogus", "1"], 2, "--bogus")
run(["synth", "-o", out, "--poni", os.path.join(work, "nope.poni"), "--frames", "2"], 1, "nope.poni")
run(["synth", "-o", out, "--poni", poni, "--frames", "2", "--detector", "NoSuchCam"], 1, "NoSuchCam")

det = "Eiger 1M"
n = 6  # > 4 base frames: the redrawn frames are covered too
run(["synth", "-o", out, "--poni", poni, "--frames", str(n), "--detector", det, "--seed", "7"], 0)
npy = os.path.join(work, "synth.npy")
run(["export", out, "-o", npy], 0)
with h5py.File(out, "r") as f:
    d = f["/entry/data/data"]
    ref = d[()]
    if d.chunks != (1,) + ref.shape[1:] or d.dtype != np.uint32:
        failures.append(f"layout {d.chunks} {d.dtype}")
    if d._filters.get("32008") != (0, 2, 4, 0, 2):
        failures.append(f"filter {d._filters}")
ours = np.load(npy)
if not np.array_equal(ours, ref):
    failures.append("our decode differs from h5py + hdf5plugin")
print("frames", ref.shape, "identical through hdf5plugin:", np.array_equal(ours, ref))

# gaps = pyFAI's mask of the detector, in every frame
mask = pyFAI.detectors.detector_factory(det).mask.astype(bool)
for i in range(n):
    if not np.array_equal(ref[i] == 0xFFFFFFFF, mask):
        failures.append(f"frame {i}: 0xFFFFFFFF pixels differ from pyFAI's {det} mask")
for i in range(n):
    for j in range(i):
        if np.array_equal(ref[i], ref[j]):
            failures.append(f"frames {i} and {j} are identical")

# rings where pyFAI's geometry puts LaB6 d-spacings
ai = pyFAI.load(poni)
ai.detector = pyFAI.detectors.detector_factory(det)
tth = ai.twoThetaArray()
a = 4.15689e-10
good = ~mask
img = ref.astype(np.float64).mean(axis=0)
found = 0
for N in (1, 2, 3, 4, 5):
    t = 2 * np.arcsin(ai.wavelength / (2 * a / np.sqrt(N)))
    on = good & (np.abs(tth - t) < 2e-4)
    off = good & (np.abs(tth - t) > 4e-3) & (np.abs(tth - t) < 6e-3)
    if on.sum() < 50:
        continue
    found += 1
    ratio = img[on].mean() / img[off].mean()
    print(f"ring N={N} 2θ={np.degrees(t):.3f}°: on/off = {ratio:.1f}")
    if ratio < 3:
        failures.append(f"ring N={N}: on/off ratio {ratio:.2f}")
if found < 2:
    failures.append(f"only {found} LaB6 rings on the detector")

# deterministic: same seed same pixels, other seed other pixels
out2 = os.path.join(work, "synth2.h5")
run(["synth", "-o", out2, "--poni", poni, "--frames", "2", "--detector", det, "--seed", "7"], 0)
run(["synth", "-o", out, "--poni", poni, "--frames", "2", "--detector", det, "--seed", "8"], 0)
with h5py.File(out2, "r") as f2, h5py.File(out, "r") as f3:
    if not np.array_equal(f2["/entry/data/data"][()], ref[:2]):
        failures.append("same seed, different pixels")
    if np.array_equal(f3["/entry/data/data"][()], ref[:2]):
        failures.append("different seed, same pixels")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("all synth checks passed")
