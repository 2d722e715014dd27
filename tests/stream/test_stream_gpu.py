#!/usr/bin/env python3
"""A stream integrated on the GPU (src/stream/stream_run_gpu.c) equals layout threads bit for
bit, on a device: `azstream replay` (the sender: no pyzmq needed) of an `azstream synth`
stack whose stored chunks were damaged in place (a corrupt LZ4 payload, which the device
finds; a chunk header announcing the wrong size and a block length running past the chunk's
end, which the planner refuses), with frames dropped on the way (--drop: an image_id gap, two
in a row, and the last one: a series short of number_of_images) → `azstream integrate
tcp://... --layout gpu` against `--layout threads`: I, I_errors, frame and frame_status
equal bit for bit (NaN rows included), the statuses the expected ones; with small batches
and a paced sender (partial batches flushed by the 2 ms timer); without --skip-bad both
stop at the corrupt frame with the same rows written.
Exit 77 (skipped) without a device or without CUDA. Needs h5py and numpy only.
usage: test_stream_gpu.py AZSTREAM WORKDIR
(AZS_STREAM_GPU_TEST_LAYOUT=serial: the same checks with a CPU layout in place of gpu, to try
the script itself on a machine without a device)"""
import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    print("h5py / numpy missing: skipped")
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli_integrate"))
import make_stack  # noqa: E402  (write_poni: plain text)

sys.path.insert(0, here)
from stream_common import check, fails, free_port, workdir  # noqa: E402

az, wd = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
env = workdir(wd, omp_threads=2)
OK, CORRUPT, TRUNCATED, SIZE_MISMATCH, GAP = 0, 7, 8, 9, 20  # azstream/status.h
NY, NX, N = 256, 192, 40
FB = NY * NX * 4
DAMAGED = {6: CORRUPT, 11: SIZE_MISMATCH, 17: TRUNCATED}
DROPPED = [3, 25, 26, N - 1]
ARGS = ["--npt", "100", "--error-model", "poisson", "--poni", "g.poni"]
GPU = os.environ.get("AZS_STREAM_GPU_TEST_LAYOUT", "gpu")


# ---------------------------------------------------------------- a device?
make_stack.write_poni("g.poni", NY, NX)
probe = subprocess.Popen([az, "integrate", f"tcp://127.0.0.1:{free_port()}", "--layout", "gpu", "--poni", "g.poni",
                          "-o", "probe_{series_id}.h5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    if GPU != "gpu":
        raise subprocess.TimeoutExpired(az, 0)
    out, _ = probe.communicate(timeout=10)
    if "no CUDA device" in out or "without CUDA" in out or "without stream support" in out:
        print("no GPU device (or no CUDA / stream support): skipped\n" + out)
        sys.exit(77)
    check(False, "the probe (no sender) ended: " + out)
except subprocess.TimeoutExpired:  # waiting for a series: there is a device
    probe.kill()
    probe.communicate()

# ---------------------------------------------------------------- the stack, damaged in place
subprocess.run([az, "synth", "-o", "s.h5", "--poni", "g.poni", "--frames", str(N)], check=True,
               capture_output=True)
with h5py.File("s.h5", "r") as f:
    info = {i: f["entry/data/data"].id.get_chunk_info_by_coord((i, 0, 0)) for i in DAMAGED}
with open("s.h5", "r+b") as f:
    for i, kind in DAMAGED.items():
        off, size = info[i].byte_offset, info[i].size
        if kind == CORRUPT:  # first block, first sequence: a match one byte back at output 0
            f.seek(off + 16)
            f.write(b"\x00\x01\x00")
        elif kind == SIZE_MISMATCH:
            f.seek(off)
            f.write((FB + 4096).to_bytes(8, "big"))
        else:  # the first block's length claims more than the chunk holds
            f.seek(off + 12)
            f.write(size.to_bytes(4, "big"))


def result(path):
    """I, I_errors, frame, frame_status: /entry/result's, else the first dataset of each name."""
    out = {}
    with h5py.File(path, "r") as f:
        g = f.get("entry/result")
        if g is not None:
            for k in ("I", "I_errors", "frame", "frame_status"):
                if k in g:
                    out[k] = g[k][()]

        def visit(name, obj):
            base = name.rsplit("/", 1)[-1]
            if isinstance(obj, h5py.Dataset) and base in ("I", "I_errors", "frame", "frame_status") \
                    and base not in out:
                out[base] = obj[()]
        f.visititems(visit)
    return out


def stream(tag, layout, *extra, rate=None, knobs=None):
    """replay → integrate; returns (rc, output, result or None)."""
    port = free_port()
    out = f"{tag}_{{series_id}}.h5"
    e = dict(env, **(knobs or {}))
    integ = subprocess.Popen([az, "integrate", f"tcp://127.0.0.1:{port}", *ARGS, "--layout", layout, "-o", out,
                              *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=e)
    rep_cmd = [az, "replay", "s.h5", "--bind", f"tcp://127.0.0.1:{port}", "--drop", ",".join(map(str, DROPPED)),
               "--quiet"]
    if rate:
        rep_cmd += ["--rate", str(rate)]
    rep = subprocess.Popen(rep_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log, _ = integ.communicate(timeout=300)
    try:  # a run that stopped early leaves replay waiting for a receiver
        rep.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        rep.terminate()
        rep.communicate()
    path = f"{tag}_1.h5"
    return integ.returncode, log, result(path) if os.path.exists(path) else None


def same(a, b, what):
    for k in ("I", "I_errors", "frame", "frame_status"):
        x, y = a.get(k), b.get(k)
        ok = x is not None and y is not None and x.shape == y.shape and x.dtype == y.dtype and \
            x.tobytes() == y.tobytes()
        check(ok, f"{what}: {k} differs from layout threads" +
              ("" if x is None or y is None or x.shape != y.shape else
               f" (rows {sorted(set(np.nonzero((x != y) & ~(np.isnan(x) & np.isnan(y)))[0].tolist()))[:10]})"
               if x.dtype.kind == "f" else ""))


# ---------------------------------------------------------------- with --skip-bad
rc, log, ref = stream("threads", "threads", "--workers", "2", "--skip-bad")
check(rc == 0 and ref is not None, f"threads: rc {rc}\n{log}")
if ref is not None:
    want = np.zeros(N, np.int32)
    for i, st in DAMAGED.items():
        want[i] = st
    want[DROPPED] = GAP
    check(np.array_equal(ref["frame"], np.arange(N)), f"threads: frames {ref['frame']}")
    check(np.array_equal(ref["frame_status"], want), f"threads: frame_status {ref['frame_status']}, want {want}")
    check(np.isnan(ref["I"][want != OK]).all() and np.isfinite(ref["I"][want == OK]).any(), "threads: NaN rows")
    runs = [("gpu", {}, None), ("gpu_b4", {"AZS_GPU_BATCH": "4", "AZS_GPU_SLOTS": "3"}, None),
            ("gpu_b1", {"AZS_GPU_BATCH": "1", "AZS_GPU_SLOTS": "2"}, None),
            ("gpu_paced", {"AZS_GPU_BATCH": "16"}, 200)]
    for tag, knobs, rate in runs:
        rc, log, got = stream(tag, GPU, "--skip-bad", rate=rate, knobs=knobs)
        check(rc == 0 and got is not None, f"{tag}: rc {rc}\n{log}")
        if got is not None:
            same(got, ref, tag)
        print(tag, log.strip().splitlines()[-1] if log.strip() else "", flush=True)

# ---------------------------------------------------------------- without --skip-bad
rc1, log1, r1 = stream("threads_stop", "threads", "--workers", "2")
rc2, log2, r2 = stream("gpu_stop", GPU)
check(rc1 == 1 and rc2 == 1, f"without --skip-bad: rc threads {rc1}, gpu {rc2}\n{log1}\n{log2}")
check(r1 is not None and r2 is not None and len(r1["frame"]) == 6, "without --skip-bad: 6 rows before frame 6")
if r1 is not None and r2 is not None:
    same(r2, r1, "without --skip-bad")
msg = [ln for ln in log2.splitlines() if "image 6" in ln]
check(bool(msg) and "corrupt" in msg[0], "gpu without --skip-bad: the message names image 6: " + log2)

if fails:
    print(f"{len(fails)} failures")
    sys.exit(1)
print("stream gpu: layout gpu equals layout threads bit for bit")
