"""Shared pieces of the end-to-end CLI tests (cli_integrate, procs, mpi): a fresh work
directory, a check that records failures and keeps going, reading a result dataset, a
bit-identity comparison, and the closing line + exit code."""
import os, shutil, sys

import numpy as np

fails = []


def fresh_workdir(path):
    """Empty `path`, make it the current directory, return its absolute path."""
    wd = os.path.abspath(path)
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    os.chdir(wd)
    return wd


def check(c, msg):
    if not c:
        fails.append(msg)
        print("FAIL:", msg, flush=True)


def read(path, key="I"):
    import h5py
    with h5py.File(path, "r") as f:
        return f["entry/result/" + key][()]


def same(a, b):
    """Bit-identical, NaN included."""
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8))


def finish(name):
    print("%s tests:" % name, "FAILED %d" % len(fails) if fails else "ok")
    sys.exit(1 if fails else 0)
