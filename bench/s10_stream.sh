#!/usr/bin/env bash
# Session 10's fourth device call: streams with `replay --preload` (the sender at the
# transport's floor: frames from memory, no read or copy per image) - the floor rows
# (replay, replay --preload, the preloaded one-message sender; 1 and 4 connections; tcp and
# ipc), then replay --preload -> integrate: threads with every core and gpu, 20,000 W1 frames,
# tcp over 1 and 4 connections and ipc; threads with 4 workers at 560 frames/s. Then GPU
# kernels only on W1 before / after the decoder change, and layout 2 with smaller
# pipelines per worker. Carry .devdeps/pre.tar.xz and .devdeps/new.tar.xz (this tree's
# azstream and stream_floor, stripped).
set -u
rm -rf .devdeps/pre .devdeps/new && tar xJf .devdeps/pre.tar.xz -C .devdeps && tar xJf .devdeps/new.tar.xz -C .devdeps
P=.devdeps/pre; N=.devdeps/new; export LD_LIBRARY_PATH=$PWD/$P/lib; AZ=$PWD/$N/azstream; W1=/tmp/w1.h5
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
PARTS=${PARTS:-"floor stream kernels l2"}
has() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
if has floor; then
  for c in 1 4; do
    FLOOR_CONNECTIONS=$c FLOOR_IO_THREADS=$c AZ=$AZ FLOOR=$PWD/$N/stream_floor PY=python3 SINKS=drop \
      SENDERS="replay preload floor" timeout 90 bash bench/stream_floor.sh 3000 W1 > $OUT/floor-$c.txt 2>&1
    echo "-- floor, $c connection(s)"; grep -E "^(replay|preload|floor) " $OUT/floor-$c.txt
  done
fi
row() { # label, FRAMES, WORKERS, LAYOUT, env...
  local l=$1 n=$2 w=$3 lay=$4; shift 4
  env "$@" PRELOAD=1 AZ=$AZ PY=python3 timeout 80 bash bench/stream_bench.sh $n W1 $w $lay > "$OUT/st-$l.txt" 2>&1
  echo "$l: $(grep -E 'sustained' $OUT/st-$l.txt | sed 's/(replay.*//') | $(grep -oE 'latency[^>]*' $OUT/st-$l.txt | head -1) | $(grep -E '^zero loss' $OUT/st-$l.txt | cut -c1-60)"
}
if has stream; then
  row threads16-tcp1 20000 0 threads CONNECTIONS=1
  row threads16-tcp4 20000 0 threads CONNECTIONS=4
  row threads16-ipc1 20000 0 threads CONNECTIONS=1 ENDPOINT=ipc
  row gpu-tcp1 20000 0 gpu CONNECTIONS=1
  row gpu-tcp4 20000 0 gpu CONNECTIONS=4
  row gpu-ipc1 20000 0 gpu CONNECTIONS=1 ENDPOINT=ipc
  row threads4-rate560 12000 4 threads CONNECTIONS=1 RATE=560
fi
if has kernels || has l2; then
  $AZ synth -o $W1 --poni bench/eiger4m.poni --frames 2000 --seed 1 2>&1 | tail -1; cat $W1 > /dev/null
fi
if has kernels; then
  for b in $P/bin/azstream $AZ; do
    $b bench $W1 --poni bench/eiger4m.poni --method bbox --frames 2000 --layouts gpu > $OUT/kern-$(basename $(dirname $b)).txt 2>&1
    echo "$(basename $(dirname $b)): $(grep -E 'GPU kernels only' $OUT/kern-$(basename $(dirname $b)).txt | cut -c1-220)"
  done
fi
if has l2; then
  C=$(mktemp -d)
  t() { local l=$1; shift; local t0=$(date +%s.%N)
    env "$@" $AZ integrate $W1 --poni bench/eiger4m.poni --method bbox --cache-dir $C -o $C/o.h5 --overwrite \
      --log-level error $L > $C/log 2>&1; local rc=$? t1=$(date +%s.%N)
    awk -v l="$l" -v rc=$rc -v a=$t0 -v b=$t1 'BEGIN { printf "%-30s rc=%d %6.3f s %7.1f frames/s\n", l, rc, b - a, 2000 / (b - a) }'; }
  L="--layout gpu"; t "gpu (cache cold)" X=1
  for r in 1 2; do
    L="--layout gpu"; t "layout gpu" X=1
    L="--layout procs --inner gpu --gpus 0 --per-gpu 4"
    t "procs 4: slots 4 x 32" X=1
    t "procs 4: slots 2 x 32" AZS_GPU_SLOTS=2
    t "procs 4: slots 2 x 16" AZS_GPU_SLOTS=2 AZS_GPU_BATCH=16
  done
fi
