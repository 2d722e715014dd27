#!/bin/bash
# pip install of the repository into a fresh venv, then use the installed package from
# outside the source tree. Arguments: python, the repository, a work folder (emptied), the
# expected version, a PONI of an Eiger 4M. Exit 77 (skipped) when PyPI cannot be reached
# (the build dependencies, scikit-build-core and numpy, come from there).
set -euo pipefail
PY=$1 SRC=$2 WORK=$3 VERSION=$4 PONI=$5
rm -rf "$WORK" && mkdir -p "$WORK"
"$PY" -m venv "$WORK/venv"
VPY=$WORK/venv/bin/python
if ! "$VPY" -m pip download -q --no-deps -d "$WORK/probe" scikit-build-core > "$WORK/probe.log" 2>&1; then
  echo "skip: PyPI not reachable"; cat "$WORK/probe.log"; exit 77
fi
"$VPY" -m pip install -q "$SRC" > "$WORK/pip.log" 2>&1 || { tail -40 "$WORK/pip.log"; exit 1; }
cd "$WORK"
"$VPY" - "$VERSION" "$PONI" <<'PYEOF'
import sys
import numpy as np
import azstream
import importlib.metadata as md
version, poni = sys.argv[1:]
assert azstream.__version__ == version, azstream.__version__
assert md.version("azstream-xray") == version, md.version("azstream-xray")
assert "site-packages" in azstream.__file__, azstream.__file__
ai = azstream.load(poni)
# every pixel 1000 and no solid angle: 1000 in every bin a pixel reaches
r = ai.integrate1d(np.full((2167, 2070), 1000, np.uint32), 300, unit="2th_deg", correctSolidAngle=False)
filled = r.intensity != 0
assert filled.sum() > 250 and np.allclose(r.intensity[filled], 1000, rtol=1e-12), r.intensity
print("ok", azstream.__file__)
PYEOF
