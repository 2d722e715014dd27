#!/usr/bin/env python3
"""Streams end to end, over loopback ZeroMQ:
 1. replay: `azstream replay` of an `azstream synth` stack → `azstream integrate tcp://...`
    equals integrating the file, bit for bit (threads layout), two series with --follow
    ended by SIGINT, one output per series ({series_id}); the same with `replay --preload`
    (each buffer sent several times, its head rewritten) and an image dropped;
 2. interop: a Stream V2 sender written here from DECTRIS's description (pyzmq + cbor2)
    sends a start message (geometry, pixel_mask, number_of_images) and the real Eiger2 R 500K
    payloads (bslz4 and lz4 uint16) with an image_id gap; integrate (geometry from the start
    message, no --poni) equals integrating the decoded frames from a file with the same
    PONI and pixel_mask, and the frames never received are rows with frame_status 20;
 3. Ctrl-C during a series keeps every frame received in a valid output.
usage: test_stream_e2e.py AZSTREAM STREAM_TOOL DATA_DIR WORKDIR"""
import os
import signal
import subprocess
import sys
import time

import cbor2
import h5py
import numpy as np
import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli_integrate"))
import make_stack  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream_common import check, end_follow, fails, free_port, result, workdir  # noqa: E402

az, tool, data, wd = (os.path.abspath(a) for a in sys.argv[1:5])
env = workdir(wd)
STREAM_GAP = 20


def wait_file(path, timeout=60):
    t = time.time() + timeout
    while time.time() < t and not os.path.exists(path):
        time.sleep(0.05)


def replay_integrate(replay_opts, out, last, nlast):
    """`replay s.h5 --repeat 2 replay_opts` into `integrate --follow -o out`, ended by SIGINT
    once the series `last` holds nlast rows: integrate's stdout."""
    port = free_port()
    rep = subprocess.Popen([az, "replay", "s.h5", "--bind", f"tcp://127.0.0.1:{port}", "--repeat", "2",
                            *replay_opts, "--quiet"])
    integ = subprocess.Popen([az, "integrate", f"tcp://127.0.0.1:{port}", "--poni", "g.poni", "--npt", "64",
                              "--error-model", "poisson", "--layout", "threads", "--workers", "2", "--follow",
                              "-o", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    check(rep.wait(timeout=120) == 0, f"replay {replay_opts} failed")
    # the last series written (its file closes after its end message)
    rc, so, se = end_follow(integ, out.replace("{series_id}", str(last)), nlast)
    check(rc == 0, f"replay {replay_opts}: --follow ended by SIGINT: rc {rc} {se}")
    return so


# ---------------------------------------------------------------- 1. replay
make_stack.write_poni("g.poni", 96, 80)
subprocess.run([az, "synth", "-o", "s.h5", "--poni", "g.poni", "--frames", "7"], check=True, capture_output=True)
subprocess.run([az, "integrate", "s.h5", "--poni", "g.poni", "--npt", "64", "--error-model", "poisson",
                "--layout", "threads", "--workers", "2", "-o", "ref.h5", "--quiet"], check=True, env=env)
so = replay_integrate(["--series-id", "5"], "run_{series_id}.h5", 6, 7)
check("2 series, 14 frames (0 not received" in so, "summary: " + so)
ref = result("ref.h5")
for k in (5, 6):
    got = result(f"run_{k}.h5")
    check(got[0].shape == ref[0].shape and np.array_equal(got[0].view(np.uint32), ref[0].view(np.uint32)),
          f"series {k}: I differs from integrating the file")
    check(np.array_equal(got[1], ref[1]) and not got[2].any(), f"series {k}: frames {got[1]} status {got[2]}")
with h5py.File("run_5.h5", "r") as f:
    with h5py.File("ref.h5", "r") as g:
        check(np.array_equal(f["entry/result/I_errors"][()], g["entry/result/I_errors"][()]), "I_errors differ")

# ---------------------------------------------------------------- 1b. replay --preload
# The frames read once, then each message sent from its buffer with only its head rewritten:
# 7 frames x 20 loops x 2 series = 280 messages through 133 buffers (19 copies of each
# frame), so every buffer is sent again with other ids; image 30 dropped on the way.
so = replay_integrate(["--loop", "20", "--preload", "--drop", "30", "--series-id", "11"], "pre_{series_id}.h5",
                      12, 140)
check("2 series, 280 frames (2 not received" in so, "--preload summary: " + so)
for k in (11, 12):
    got = result(f"pre_{k}.h5")
    kept = np.arange(140) != 30
    want = np.tile(ref[0], (20, 1))
    check(got[0].shape == want.shape and np.array_equal(got[0][kept].view(np.uint32), want[kept].view(np.uint32)),
          f"--preload series {k}: I differs from integrating the file")
    check(got[2][30] == STREAM_GAP and not got[2][kept].any(), f"--preload series {k}: status {got[2]}")

# ---------------------------------------------------------------- 2. interop with the real payloads
def load(name):
    with open(os.path.join(data, name), "rb") as f:
        return cbor2.loads(f.read())


img16 = load("r500k_bslz4_16bit_000001.cbor")
imglz4 = load("r500k_lz4_16bit_000001.cbor")
NY, NX = 514, 1030
rng = np.random.default_rng(3)
mask = np.zeros((NY, NX), np.uint32)
mask[rng.integers(0, NY, 300), rng.integers(0, NX, 300)] = 1 << rng.integers(0, 32, 300)
bcx, bcy, psx, psy, dist, wl = 515.25, 256.5, 75e-6, 75e-6, 0.12, 1.0332
start = {"type": "start", "series_id": 9, "series_unique_id": "interop", "image_size_x": NX, "image_size_y": NY,
         "channels": ["threshold_1", "threshold_2", "difference"], "beam_center_x": bcx, "beam_center_y": bcy,
         "pixel_size_x": psx, "pixel_size_y": psy, "detector_translation": [0.0, 0.0, dist],
         "incident_wavelength": wl, "incident_energy": 12000.0, "number_of_images": 5,
         "saturation_value": 65000, "count_time": 0.05,
         "pixel_mask": {"threshold_1": cbor2.CBORTag(40, [[NY, NX], cbor2.CBORTag(70, mask.astype("<u4").tobytes())])},
         "goniometer": {"omega": {"start": 0.0, "increment": 0.1}}, "user_data": None}
sent = [(0, img16), (1, imglz4), (3, img16)]  # image 2 and 4 never sent
port = free_port()
integ = subprocess.Popen([az, "integrate", f"tcp://127.0.0.1:{port}", "--npt", "100", "--layout", "threads",
                          "--workers", "2", "-o", "interop_{series_id}.h5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
ctx = zmq.Context.instance()
push = ctx.socket(zmq.PUSH)
push.bind(f"tcp://127.0.0.1:{port}")
push.send(cbor2.dumps(cbor2.CBORTag(55799, start)))
push.send(cbor2.dumps({"type": "calibration", "series_id": 9}))  # a type we do not read: skipped
for iid, msg in sent:
    m = dict(msg)
    m["image_id"], m["series_id"] = iid, 9
    push.send(cbor2.dumps(cbor2.CBORTag(55799, m)))
push.send(cbor2.dumps({"type": "end", "series_id": 9}))
so, se = integ.communicate(timeout=120)
push.close(0)
check(integ.returncode == 0, f"interop: rc {integ.returncode} {se}")
check("geometry from the start message" in se and "not received" in se and "message skipped" in se,
      "interop notices: " + se)
# the same frames, decoded by our (separately checked: stream.real) decoder, as a file
frames = []
for name in ("r500k_bslz4_16bit_000001.cbor", "r500k_lz4_16bit_000001.cbor"):
    subprocess.run([tool, os.path.join(data, name), "threshold_1", "px.raw"], check=True, capture_output=True)
    frames.append(np.fromfile("px.raw", "<u2").reshape(NY, NX))
with h5py.File("interop_ref.h5", "w") as f:
    f.create_dataset("entry/data/data", data=np.stack([frames[0], frames[1], frames[0]]), chunks=(1, NY, NX))
    f.create_dataset("entry/instrument/detector/detectorSpecific/pixel_mask", data=mask)
with open("interop.poni", "w") as f:  # pyFAI's Fit2D → PONI without tilt, in the same doubles
    f.write("poni_version: 2.1\nDetector: Detector\nDetector_config: {\"pixel1\": %r, \"pixel2\": %r, "
            "\"max_shape\": [%d, %d], \"orientation\": 3}\nDistance: %r\nPoni1: %r\nPoni2: %r\nRot1: 0\n"
            "Rot2: 0\nRot3: 0\nWavelength: %r\n" % (psy, psx, NY, NX, dist, bcy * psy, bcx * psx, wl * 1e-10))
r = subprocess.run([az, "integrate", "interop_ref.h5", "--poni", "interop.poni", "--npt", "100", "--layout",
                    "threads", "--workers", "2", "-o", "interop_ref_out.h5", "--quiet"], capture_output=True,
                   text=True, env=env)
check(r.returncode == 0, "file integration: " + r.stderr)
got, ref = result("interop_9.h5"), result("interop_ref_out.h5")
check(list(got[1]) == [0, 1, 2, 3, 4], f"interop frames {got[1]}")
check(list(got[2]) == [0, 0, STREAM_GAP, 0, STREAM_GAP], f"interop frame_status {got[2]}")
check(np.isnan(got[0][[2, 4]]).all(), "rows never received are NaN")
check(np.array_equal(got[0][[0, 1, 3]].view(np.uint32), ref[0].view(np.uint32)),
      "interop: profiles differ from integrating the decoded frames")
check(np.isfinite(ref[0]).any() and (ref[0] > 0).any(), "the reference profile is not trivial")

# ---------------------------------------------------------------- 3. Ctrl-C mid-series
port = free_port()
integ = subprocess.Popen([az, "integrate", f"tcp://127.0.0.1:{port}", "--poni", "g.poni", "--npt", "64",
                          "--layout", "threads", "-o", "cut.h5"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
push = ctx.socket(zmq.PUSH)
push.bind(f"tcp://127.0.0.1:{port}")
with h5py.File("s.h5", "r") as f:
    chunks = [f["entry/data/data"].id.read_direct_chunk((k, 0, 0))[1] for k in range(3)]
push.send(cbor2.dumps({"type": "start", "series_id": 1, "number_of_images": 7, "channels": ["t"]}))
for k, c in enumerate(chunks):
    push.send(cbor2.dumps({"type": "image", "series_id": 1, "image_id": k, "data": {
        "t": cbor2.CBORTag(40, [[96, 80], cbor2.CBORTag(70, cbor2.CBORTag(56500, ["bslz4", 4, c]))])}}))
time.sleep(1.5)
integ.send_signal(signal.SIGINT)
so, se = integ.communicate(timeout=60)
push.close(0)
check(integ.returncode == 1 and "interrupted" in se, f"Ctrl-C: rc {integ.returncode} {se}")
cut = result("cut.h5")
subprocess.run([az, "integrate", "s.h5", "--poni", "g.poni", "--npt", "64", "--frames", "0:3", "--layout",
                "threads", "-o", "cutref.h5", "--quiet"], check=True, env=env)
check(list(cut[1]) == [0, 1, 2] and np.array_equal(cut[0].view(np.uint32), result("cutref.h5")[0].view(np.uint32)),
      f"Ctrl-C kept frames {cut[1]}, not the 3 received")

print(f"{len(fails)} failures")
sys.exit(1 if fails else 0)
