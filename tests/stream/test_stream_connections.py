#!/usr/bin/env python3
"""Several connections into one receiver (integrate --connections N), over loopback ZeroMQ:
 1. `azstream replay` → `azstream integrate --connections 3` (two series, --follow): the PUSH
    socket round-robins the messages over the three connections, they arrive out of order,
    and the outputs still equal integrating the file, bit for bit, one row per image in
    image_id order;
 2. a sender here re-sends replay's messages in a scrambled order (images before their start
    message, the end message before the last images, image_ids shuffled within a few, one
    image never sent): integrate --connections 2 writes the rows in image_id order, equal to
    the file's, and the image never sent is a row with frame_status 20 (not received).
usage: test_stream_connections.py AZSTREAM WORKDIR [LAYOUT]
LAYOUT threads (default) or gpu (exit 77 without a device)."""
import os
import random
import subprocess
import sys
import time

import numpy as np

try:
    import zmq  # part 2's sender; the device image may not have pyzmq: part 1 alone then
except ImportError:
    zmq = None

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli_integrate"))
import make_stack  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream_common import check, end_follow, fails, free_port, result, workdir  # noqa: E402

az, wd = (os.path.abspath(a) for a in sys.argv[1:3])
layout = sys.argv[3] if len(sys.argv) > 3 else "threads"
env = workdir(wd)
STREAM_GAP = 20
NF, LOOP = 20, 3
# 1 without an error model: the workers integrate queued images in batches (the matrix read
# once for several frames); 2 with one: one by one
OPTS = ["--npt", "64", "--workers", "2"]
OPTS2 = OPTS + ["--error-model", "poisson"]


def bits(a):
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


make_stack.write_poni("g.poni", 96, 80)
subprocess.run([az, "synth", "-o", "s.h5", "--poni", "g.poni", "--frames", str(NF)], check=True, capture_output=True)
subprocess.run([az, "integrate", "s.h5", "--poni", "g.poni", *OPTS, "--layout", "threads", "-o", "ref.h5",
                "--quiet"], check=True, env=env)
subprocess.run([az, "integrate", "s.h5", "--poni", "g.poni", *OPTS2, "--layout", "threads", "-o", "ref2.h5",
                "--quiet"], check=True, env=env)
ref = result("ref.h5")
ref2 = result("ref2.h5")
if layout == "gpu":
    probe = subprocess.run([az, "integrate", "s.h5", "--poni", "g.poni", *OPTS, "--layout", "gpu", "-o", "probe.h5",
                            "--quiet"], capture_output=True, text=True, env=env)
    if probe.returncode != 0 and "no GPU device" in probe.stderr:
        print("skipped: no GPU device")
        sys.exit(77)

# ---------------------------------------------------------------- 1. replay over 3 connections
port = free_port()
integ = subprocess.Popen([az, "integrate", f"tcp://127.0.0.1:{port}", "--poni", "g.poni", *OPTS, "--layout", layout,
                          "--connections", "3", "--follow", "-o", "run_{series_id}.h5"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
time.sleep(0.5)  # its three connections up before the first message: each gets its share
rep = subprocess.run([az, "replay", "s.h5", "--bind", f"tcp://127.0.0.1:{port}", "--repeat", "2", "--loop", str(LOOP),
                      "--io-threads", "3", "--quiet"], timeout=120)
check(rep.returncode == 0, "replay failed")
rc, so, se = end_follow(integ, "run_2.h5")
check(rc == 0, f"--follow ended by SIGINT: rc {rc} {se}")
check(f"2 series, {2 * NF * LOOP} frames (0 not received" in so, "summary: " + so)
check("arrived after" not in se, "an image written out of order: " + se)
for k in (1, 2):
    I, frame, status = result(f"run_{k}.h5")
    ids = np.arange(NF * LOOP)
    check(np.array_equal(frame, ids) and not status.any(), f"series {k}: frames {frame} status {status}")
    check(I.shape == (NF * LOOP,) + ref[0].shape[1:] and np.array_equal(bits(I), bits(ref[0][ids % NF])),
          f"series {k}: I differs from integrating the file")

# ---------------------------------------------------------------- 2. a scrambled order
if zmq is None:
    print("part 2 (scrambled order) not run: no pyzmq")
    print("stream connections:", "FAIL" if fails else "ok", f"({layout})")
    sys.exit(1 if fails else 0)
# replay's own messages, caught here, then sent again in another order
ep = f"ipc://{wd}/catch.ipc"
rep = subprocess.Popen([az, "replay", "s.h5", "--bind", ep, "--series-id", "9", "--quiet"])
ctx = zmq.Context()
pull = ctx.socket(zmq.PULL)
pull.connect(ep)
msgs = [pull.recv() for _ in range(NF + 2)]
check(rep.wait(timeout=60) == 0, "replay (catch) failed")
pull.close()
start, images, end = msgs[0], msgs[1:-1], msgs[-1]
MISSING = 7
rng = random.Random(5)
order = [images[k] for k in range(NF)]
for a in range(0, NF - 3, 3):  # shuffled within blocks of 4
    blk = order[a:a + 4]
    rng.shuffle(blk)
    order[a:a + 4] = blk
scrambled = order[:3] + [start] + order[3:-2] + [end] + order[-2:]
scrambled.remove(images[MISSING])
port = free_port()
push = ctx.socket(zmq.PUSH)
push.bind(f"tcp://127.0.0.1:{port}")
integ = subprocess.Popen([az, "integrate", f"tcp://127.0.0.1:{port}", "--poni", "g.poni", *OPTS2, "--layout", layout,
                          "--connections", "2", "-o", "scrambled.h5"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
time.sleep(0.5)
for m in scrambled:
    push.send(m)
so, se = integ.communicate(timeout=60)
push.close()
ctx.term()
check(integ.returncode == 0, f"scrambled: rc {integ.returncode} {se}")
check(f"1 series, {NF} frames (1 not received" in so, "scrambled summary: " + so)
I, frame, status = result("scrambled.h5")
ok = np.arange(NF) != MISSING
check(np.array_equal(frame, np.arange(NF)), f"scrambled: frames {frame}")
check(status[MISSING] == STREAM_GAP and not status[ok].any(), f"scrambled: status {status}")
check(np.array_equal(bits(I[ok]), bits(ref2[0][ok])) and np.isnan(I[MISSING]).all(),
      "scrambled: I differs from integrating the file")

print("stream connections:", "FAIL" if fails else "ok", f"({layout})")
sys.exit(1 if fails else 0)
