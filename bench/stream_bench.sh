#!/usr/bin/env bash
# Stream throughput over loopback (a benchmark, not a test): `azstream replay` of a synthetic
# stack → `azstream integrate tcp://...` (threads layout). Prints the receiver's frames/s,
# the zero-loss check (rows written = frames sent, none with frame_status 20) and the latency
# from an image's receipt to its row written (median, 99th percentile).
#   bench/stream_bench.sh [FRAMES] [DETECTOR] [WORKERS]   (defaults: 2000, "Eiger2 4M", 0 = all cores)
# Needs a build with stream support (build/azstream, or AZ=path) and python3 with h5py.
set -euo pipefail
N=${1:-2000}; DET=${2:-"Eiger2 4M"}; W=${3:-0}
cd "$(dirname "$0")/.."
AZ=${AZ:-$PWD/build/azstream}
PY=${PY:-$PWD/.venv/bin/python}
[ -x "$PY" ] || PY=python3
WD=$(mktemp -d /tmp/azs_stream_bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WD"' EXIT
cat > "$WD/g.poni" <<PONI
poni_version: 2.1
Detector: $DET
Distance: 0.15
Poni1: 0.08
Poni2: 0.08
Rot1: 0
Rot2: 0
Rot3: 0
Wavelength: 1e-10
PONI
# a few distinct frames, replayed: the stack file stays small, the stream is N frames long
BASE=$(( N < 50 ? N : 50 )); REPEAT=$(( (N + BASE - 1) / BASE ))
"$AZ" synth -o "$WD/s.h5" --poni "$WD/g.poni" --frames "$BASE" > /dev/null
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$AZ" integrate "tcp://127.0.0.1:$PORT" --poni "$WD/g.poni" --layout threads --workers "$W" --follow \
      -o "$WD/run_{series_id}.h5" > "$WD/integrate.log" 2>&1 &
INTEG=$!
"$AZ" replay "$WD/s.h5" --bind "tcp://127.0.0.1:$PORT" --repeat "$REPEAT" | sed 's/^/  /'
# the last series is written once its file says so
for _ in $(seq 600); do
  "$PY" - "$WD" "$REPEAT" "$BASE" <<'PY' 2>/dev/null && break || sleep 0.5
import sys, h5py
wd, rep, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with h5py.File(f"{wd}/run_{rep}.h5", "r") as f:
    sys.exit(0 if f["entry/result/frame"].shape[0] == base else 1)
PY
done
sleep 0.5
kill -INT $INTEG; wait $INTEG || true
sed 's/^/  /' "$WD/integrate.log"
"$PY" - "$WD" "$REPEAT" "$BASE" <<'PY'
import sys, h5py, numpy as np
wd, rep, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = gaps = 0
for k in range(1, rep + 1):
    with h5py.File(f"{wd}/run_{k}.h5", "r") as f:
        st = f["entry/result/frame_status"][()]
        rows += len(st); gaps += int((st == 20).sum())
sent = rep * base
print(f"zero loss: {'yes' if rows == sent and gaps == 0 else 'NO'} ({rows} rows for {sent} frames sent, {gaps} not received)")
PY
