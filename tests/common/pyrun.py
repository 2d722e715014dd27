"""Runs a Python test script, as `python SCRIPT ARGS...` would, except that a test whose
third-party modules are missing (numpy, h5py, hdf5plugin, pyFAI, fabio, ...) exits 77:
ctest reports it skipped (SKIP_RETURN_CODE 77) instead of failed. Every Python test is
started through this file (tests/CMakeLists.txt), so the tests exist whenever a python3
does, with or without the reference packages. A missing module of our own still fails.

Usage: pyrun.py SCRIPT [ARGS...]"""
import os
import runpy
import sys

THIRD_PARTY = {"numpy", "h5py", "hdf5plugin", "pyFAI", "fabio", "scipy", "silx",
               "bitshuffle", "cbor2", "matplotlib", "zmq"}


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    # The CLI's default integrator cache ($XDG_CACHE_HOME/azstream): in the test's build
    # folder, not the user's home.
    os.environ["XDG_CACHE_HOME"] = os.path.abspath("xdg-cache")
    script = os.path.abspath(sys.argv[1])
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(script)  # as if the script had been run directly
    try:
        runpy.run_path(script, run_name="__main__")
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top not in THIRD_PARTY:
            raise
        print(f"skip: Python module {e.name} is missing ({sys.executable})")
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
