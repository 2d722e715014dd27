"""Runs the tests of this folder: under pytest when it is installed, else each test_*
function of each test_*.py in turn (they need no fixtures). Exit 0 if all pass."""
import importlib.util
import glob
import os
import sys
import traceback

# The reference modules first: when one is missing, tests/common/pyrun.py reports a skip.
import h5py  # noqa: E402,F401
import hdf5plugin  # noqa: E402,F401
import numpy  # noqa: E402,F401
import pyFAI  # noqa: E402,F401

here = os.path.dirname(os.path.abspath(__file__))
try:
    import pytest
except ModuleNotFoundError:
    pytest = None

if pytest is not None:
    sys.exit(pytest.main([here, "-q", "-s", "-p", "no:cacheprovider"]))

failed = 0
for path in sorted(glob.glob(os.path.join(here, "test_*.py"))):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in sorted(n for n in dir(mod) if n.startswith("test_")):
        try:
            getattr(mod, name)()
            print(f"PASS {name}", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc()
sys.exit(1 if failed else 0)
