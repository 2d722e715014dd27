"""What the stream tests share: a fresh working folder, the environment their azstream
runs get, the failure list with check(), a free loopback port and /entry/result's rows."""
import os
import shutil
import socket

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
