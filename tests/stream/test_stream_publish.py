#!/usr/bin/env python3
"""--publish: replay → integrate tcp://... --publish tcp://...; a subscriber (pyzmq) gets one
CBOR map per frame ("profile", series_id, image_id, radial, intensity, sigma as float64
typed arrays, tag 86) whose arrays are the rows of integrating the same file (I and
I_errors once rounded to the file's float32, bit for bit; radial_axis exactly), every image_id
once, in order; an existing output refused without --overwrite (untouched), replaced with
it; --resume refused for a stream.
usage: test_stream_publish.py AZSTREAM WORKDIR"""
import os
import subprocess
import sys
import time

try:
    import cbor2
    import h5py
    import numpy as np
    import zmq
except ImportError as e:
    print("skipped:", e)
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli_integrate"))
import make_stack  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream_common import check, fails, free_port, workdir  # noqa: E402

az, wd = (os.path.abspath(a) for a in sys.argv[1:3])
env = workdir(wd)
N = 12


def f64(v):
    """A float64 little-endian typed array (RFC 8746 tag 86) as numpy."""
    if isinstance(v, cbor2.CBORTag) and v.tag == 86:
        return np.frombuffer(v.value, "<f8")
    return None


make_stack.write_poni("g.poni", 96, 80)
subprocess.run([az, "synth", "-o", "s.h5", "--poni", "g.poni", "--frames", str(N)], check=True, capture_output=True,
               env=env)
opts = ["--poni", "g.poni", "--npt", "64", "--error-model", "poisson", "--layout", "threads", "--workers", "2"]
subprocess.run([az, "integrate", "s.h5", *opts, "-o", "ref.h5", "--quiet"], check=True, env=env)
with h5py.File("ref.h5", "r") as f:
    ref_i, ref_s = f["entry/result/I"][()], f["entry/result/I_errors"][()]
    ref_r = f["entry/result/radial_axis"][()]

port, pub = free_port(), free_port()
integ = subprocess.Popen([az, "integrate", f"tcp://127.0.0.1:{port}", *opts, "--publish", f"tcp://127.0.0.1:{pub}",
                          "-o", "run_{series_id}.h5", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.connect(f"tcp://127.0.0.1:{pub}")
time.sleep(1.0)  # PUB drops what it sends before the subscription arrives: connect first
rep = subprocess.Popen([az, "replay", "s.h5", "--bind", f"tcp://127.0.0.1:{port}", "--series-id", "3", "--quiet"],
                       env=env)
check(rep.wait(timeout=120) == 0, "replay failed")
so, se = integ.communicate(timeout=120)
check(integ.returncode == 0, f"integrate: rc {integ.returncode} {se}")
msgs = []
while sub.poll(1000):
    msgs.append(cbor2.loads(sub.recv()))
sub.close(0)
ctx.term()
check(len(msgs) == N, f"{len(msgs)} profiles published for {N} frames")
for k, m in enumerate(msgs):
    if not isinstance(m, dict):
        check(False, f"message {k}: not a map: {type(m)}")
        continue
    check(m.get("type") == "profile" and m.get("series_id") == 3 and m.get("image_id") == k,
          f"message {k}: type {m.get('type')} series {m.get('series_id')} image {m.get('image_id')}")
    i, s, r = f64(m.get("intensity")), f64(m.get("sigma")), f64(m.get("radial"))
    if k < N and i is not None and s is not None and r is not None:
        # the profiles go out in double, the file keeps float32: rounded, they are its rows
        check(np.array_equal(i.astype(np.float32).view(np.uint32), ref_i[k].view(np.uint32)), f"frame {k}: intensity")
        check(np.array_equal(s.astype(np.float32).view(np.uint32), ref_s[k].view(np.uint32)), f"frame {k}: sigma")
        check(np.array_equal(r, ref_r.astype("<f8")), f"frame {k}: radial")
    else:
        check(False, f"message {k}: intensity, sigma and radial must be float64 typed arrays (tag 86)")
with h5py.File("run_3.h5", "r") as f:
    check(np.array_equal(f["entry/result/I"][()], ref_i), "the output file's rows differ from the file's")

# An existing output: refused (exit 2, the file untouched) without --overwrite, replaced
# with it (the second series drops image 0: its row then says "not received").
def series(extra, drop=None):
    port = free_port()
    integ = subprocess.Popen([az, "integrate", f"tcp://127.0.0.1:{port}", *opts, "-o", "run_{series_id}.h5",
                              "--quiet", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    rep = subprocess.Popen([az, "replay", "s.h5", "--bind", f"tcp://127.0.0.1:{port}", "--series-id", "3",
                            "--quiet"] + (["--drop", str(drop)] if drop is not None else []), env=env)
    so, se = integ.communicate(timeout=120)
    if rep.poll() is None:  # a receiver that stopped leaves replay waiting for a peer
        time.sleep(0.5)
        rep.kill()
    rep.wait()
    return integ.returncode, se


before = open("run_3.h5", "rb").read()
rc, err = series([])
check(rc == 2 and "run_3.h5" in err and "--overwrite" in err, f"existing output: rc {rc}, {err.strip()[-300:]}")
check(open("run_3.h5", "rb").read() == before, "the refused run changed the existing output")
rc, err = series(["--overwrite"], drop=0)
check(rc == 0, f"--overwrite: rc {rc} {err.strip()[-300:]}")
with h5py.File("run_3.h5", "r") as f:
    st = f["entry/result/frame_status"][()]
    check(len(st) == N and st[0] == 20 and not st[1:].any(), f"--overwrite: the new series' statuses {st}")
rc, err = series(["--resume"])
check(rc == 2 and "--resume" in err, f"--resume on a stream: rc {rc} {err.strip()[-200:]}")

print("stream publish:", "FAILED %d" % len(fails) if fails else "ok (%d profiles)" % len(msgs))
sys.exit(1 if fails else 0)
