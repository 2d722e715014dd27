#!/usr/bin/env bash
# The transport floor of a stream (a benchmark, not a test): messages/s through one ZeroMQ
# PUSH/PULL connection to a receiver that does nothing with them, for two senders
#   replay  `azstream replay` of a synthetic stack (reads each chunk, encodes, sends)
#   floor   stream_floor send: one image message of the stack's mean chunk size, built once,
#           sent over and over without a copy
# over tcp:// loopback and ipc://, into `stream_floor sink` (drop: receive and close; decode:
# the integrate receiver's path, receive + decode in place, no ring, no integration).
#   bench/stream_floor.sh [FRAMES] [DETECTOR]
#     FRAMES    messages per row (default 2000)
#     DETECTOR  W1 (default: Eiger2 4M uint32 bslz4, bench/eiger4m.poni) or a pyFAI detector name
#   preload `azstream replay --preload` (the frames read once, then sent from memory)
#   SINKS="drop decode" (default), ENDPOINTS="tcp ipc", SENDERS="replay floor" (or preload);
#   FLOOR_IO_THREADS / FLOOR_SNDBUF / FLOOR_RCVBUF / FLOOR_HWM pass to the floor sender and the
#   drop sink (ZeroMQ I/O threads, kernel socket buffers in bytes, high-water mark);
#   FLOOR_CONNECTIONS=N: the drop sink connects N times (replay gets --io-threads N).
# Needs a build with stream support: build/azstream and build/stream_floor (or AZ=, FLOOR=).
set -euo pipefail
N=${1:-2000}; DET=${2:-W1}
cd "$(dirname "$0")/.."
AZ=${AZ:-$PWD/build/azstream}; FLOOR=${FLOOR:-$(dirname "$AZ")/stream_floor}
PY=${PY:-$PWD/.venv/bin/python}; [ -x "$PY" ] || PY=python3
WD=$(mktemp -d /tmp/azs_stream_floor.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WD"' EXIT
if [ "$DET" = W1 ]; then cp bench/eiger4m.poni "$WD/g.poni"; else
  printf 'poni_version: 2.1\nDetector: %s\nDistance: 0.15\nPoni1: 0.08\nPoni2: 0.08\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: 1e-10\n' \
    "$DET" > "$WD/g.poni"; fi
BASE=$(( N < 50 ? N : 50 )); LOOP=$(( (N + BASE - 1) / BASE ))
"$AZ" synth -o "$WD/s.h5" --poni "$WD/g.poni" --frames "$BASE" --seed 1 > /dev/null
BYTES=$("$PY" -c 'import sys, h5py; d = h5py.File(sys.argv[1])["entry/data/data"]; print(d.id.get_storage_size() // d.shape[0])' "$WD/s.h5")
echo "stream_floor: $DET, $((BASE * LOOP)) messages per row, chunks of $BYTES bytes (mean), $(nproc) cores"
printf '%-7s %-4s %-7s %12s %8s  %s\n' sender ep sink messages/s GB/s "receiver's time"
for ep in ${ENDPOINTS:-tcp ipc}; do
  for snd in ${SENDERS:-replay floor}; do
    for sink in ${SINKS:-drop decode}; do
      if [ "$ep" = tcp ]; then
        PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        E="tcp://127.0.0.1:$PORT"
      else E="ipc://$WD/floor.ipc"; rm -f "$WD/floor.ipc"; fi
      if [ "$snd" = replay ] || [ "$snd" = preload ]; then
        "$AZ" replay "$WD/s.h5" --bind "$E" --loop "$LOOP" --io-threads "${FLOOR_CONNECTIONS:-1}" \
          $([ "$snd" = preload ] && echo --preload) > "$WD/send.log" 2>&1 &
      else
        "$FLOOR" send "$E" "$BYTES" $((BASE * LOOP)) > "$WD/send.log" 2>&1 &
      fi
      SP=$!
      sleep 0.3
      "$FLOOR" sink "$E" "$sink" > "$WD/sink.log" 2>&1 || { cat "$WD/sink.log"; exit 1; }
      wait $SP || { cat "$WD/send.log"; exit 1; }
      # "... in T s: R messages/s, G GB/s; recv ..."
      sed -E 's/.*: ([0-9.]+) messages\/s, ([0-9.]+) GB\/s; (.*)/\1 \2 \3/' "$WD/sink.log" |
        { read -r r g rest; printf '%-7s %-4s %-7s %12s %8s  %s\n' "$snd" "$ep" "$sink" "$r" "$g" "$rest"; }
    done
  done
done
