"""What the stream tests share: a fresh working folder, the environment their azstream
runs get, the failure list with check(), a free loopback port, /entry/result's rows and
the end of an `integrate --follow`."""
import os
import shutil
import signal
import socket
import time

import h5py

fails = []


def workdir(path, omp_threads=1):
    """Empty `path`, make it the current folder; the environment for azstream's runs (a
    fixed OpenMP thread count: TSan does not see libgomp's barriers)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    os.chdir(path)
    return dict(os.environ, OMP_NUM_THREADS=str(omp_threads))


def check(c, msg):
    if not c:
        fails.append(msg)
        print("FAIL:", msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def result(path):
    """I, frame, frame_status of /entry/result."""
    with h5py.File(path, "r") as f:
        r = f["entry/result"]
        return r["I"][()], r["frame"][()], r["frame_status"][()]


def end_follow(integ, path, nrows=None):
    """Stop an `integrate --follow` (a Popen with text pipes) by SIGINT once its output `path`
    exists (and, nrows given, holds that many rows): (rc, stdout, stderr)."""
    for _ in range(300):
        try:
            if os.path.exists(path) and (nrows is None or len(result(path)[1]) == nrows):
                break
        except (OSError, KeyError):  # still being written
            pass
        time.sleep(0.1)
    time.sleep(0.3)
    integ.send_signal(signal.SIGINT)
    so, se = integ.communicate(timeout=60)
    return integ.returncode, so, se
