#!/usr/bin/env bash
# Stream throughput over loopback (a benchmark, not a test): `azstream replay` of a synthetic
# stack → `azstream integrate tcp://...` with the layout given (threads or gpu). Prints the
# sustained rate (frames from replay's start to the last series' output closed: the receiver
# holds the sender back through ZeroMQ's high-water mark), the receiver's summary, the
# zero-loss check (rows written = frames sent, none with frame_status 20) and the latency
# from an image's receipt to its row written (median, 99th percentile).
#   bench/stream_bench.sh [FRAMES] [DETECTOR] [WORKERS] [LAYOUT]
#     FRAMES    frames streamed (default 2000)
#     DETECTOR  W1 (default: bench/eiger4m.poni, Eiger2 4M uint32 bslz4, 1000 bins in q,
#               solid angle, polarization 0.99, the gap mask through the dummy 0xFFFFFFFF,
#               METHOD bbox; doc/design.md "Measuring"), or a pyFAI detector name ("Pilatus 1M")
#     WORKERS   0 = all cores (threads: integrating workers; gpu: threads copying chunks into
#               the device's batches)
#     LAYOUT    threads (default) or gpu
#   SERIES=N: frames per series (default: all FRAMES in one series, as an acquisition; the
#   stack holds 50 distinct frames, replayed with --loop). METHOD=bbox|full|no. AZS_GPU_BATCH /
#   AZS_GPU_SLOTS / AZS_GPU_LAG pass through to layout gpu. CONNECTIONS=N: integrate
#   --connections N, replay --io-threads N (default 1). ENDPOINT=tcp (default) or ipc. RATE=HZ: replay --rate HZ
#   (a detector's frame rate: the receiver keeps up when replay holds that rate and the
#   latency stays flat instead of growing with the backlog). PRELOAD=1: replay --preload (the
#   frames sent from memory, no read or copy per image, as a detector does).
# Needs a build with stream support (build/azstream, or AZ=path) and python3 with h5py.
set -euo pipefail
N=${1:-2000}; DET=${2:-W1}; W=${3:-0}; LAYOUT=${4:-threads}; METHOD=${METHOD:-bbox}
case $LAYOUT in threads|gpu) ;; *) echo "LAYOUT: threads or gpu, not '$LAYOUT'" >&2; exit 2;; esac
cd "$(dirname "$0")/.."
AZ=${AZ:-$PWD/build/azstream}
PY=${PY:-$PWD/.venv/bin/python}
[ -x "$PY" ] || PY=python3
WD=$(mktemp -d /tmp/azs_stream_bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WD"' EXIT
if [ "$DET" = W1 ]; then
  cp bench/eiger4m.poni "$WD/g.poni"
  OPTS=(--npt 1000 --method "$METHOD" --polarization 0.99 --dummy 4294967295)
else
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
  OPTS=(--method "$METHOD")
fi
# a few distinct frames, replayed: the stack file stays small, the stream is N frames long
SERIES=${SERIES:-$N}; [ "$SERIES" -le "$N" ] || SERIES=$N
BASE=$(( SERIES < 50 ? SERIES : 50 )); LOOP=$(( (SERIES + BASE - 1) / BASE ))
REPEAT=$(( (N + BASE * LOOP - 1) / (BASE * LOOP) )); PER=$(( BASE * LOOP ))
"$AZ" synth -o "$WD/s.h5" --poni "$WD/g.poni" --frames "$BASE" --seed 1 > /dev/null
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CONN=${CONNECTIONS:-1}
EP="tcp://127.0.0.1:$PORT"; [ "${ENDPOINT:-tcp}" = ipc ] && EP="ipc://$WD/stream.ipc"
echo "stream_bench: $LAYOUT, $DET ($METHOD), $REPEAT series of $PER frames, workers $W, ${ENDPOINT:-tcp}, connections $CONN"
"$AZ" integrate "$EP" --connections "$CONN" --poni "$WD/g.poni" "${OPTS[@]}" --layout "$LAYOUT" --workers "$W" \
      --follow -o "$WD/run_{series_id}.h5" > "$WD/integrate.log" 2>&1 &
INTEG=$!
sleep 1
if ! kill -0 $INTEG 2>/dev/null; then # refused at once (no device, bad option): nothing to send to
  sed 's/^/  /' "$WD/integrate.log"; exit 1
fi
T0=$(date +%s.%N)
"$AZ" replay "$WD/s.h5" --bind "$EP" --repeat "$REPEAT" --loop "$LOOP" --io-threads "$CONN" \
  ${RATE:+--rate "$RATE"} ${PRELOAD:+--preload} > "$WD/replay.log" &
# The output of a series appears under its name when the series is closed (renamed from its
# partial file): the last one's is the end of the stream.
"$PY" - "$WD" "$REPEAT" "$PER" "$T0" <<'PY'
import os, sys, time
wd, rep, per, t0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
while not os.path.exists(f"{wd}/run_{rep}.h5"):
    time.sleep(0.005)
dt = time.time() - t0
print(f"  sustained: {rep * per} frames in {dt:.3f} s, {rep * per / dt:.1f} frames/s (replay start to the last "
      f"series closed)")
PY
wait %2 2>/dev/null || true
sed 's/^/  /' "$WD/replay.log"
sleep 0.5
kill -INT $INTEG; wait $INTEG || true
sed 's/^/  /' "$WD/integrate.log"
"$PY" - "$WD" "$REPEAT" "$PER" <<'PY'
import sys, h5py, numpy as np
wd, rep, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = gaps = 0
for k in range(1, rep + 1):
    with h5py.File(f"{wd}/run_{k}.h5", "r") as f:
        st = f["entry/result/frame_status"][()]
        rows += len(st); gaps += int((st == 20).sum())
sent = rep * per
print(f"zero loss: {'yes' if rows == sent and gaps == 0 else 'NO'} ({rows} rows for {sent} frames sent, {gaps} not received)")
PY
