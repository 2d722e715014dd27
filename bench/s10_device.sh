#!/usr/bin/env bash
# Session 10's device call (doc/performance.md, doc/streams.md): layout 2 against layout 3
# since procs GPU workers keep their engine, pyFAI's layout 1 beside ours in the same call,
# an Eiger2 X 4M's rate (560 frames/s) with 4 stream workers, and the loopback transport's
# ceiling with larger socket buffers. Here: bash bench/device_prebuilt.sh prepare, pack
# .devdeps/pre/{bin,gpubin,lib} into .devdeps/pre.tar.xz (the carry limit), pyFAI's wheels
# for Python 3.12 in .whl (pyFAI, fabio, silx, bitshuffle, numexpr); there:
#   timeout 590 bash bench/s10_device.sh      (carry .devdeps/pre.tar.xz, .whl)
# PARTS="l2 side stream floor" picks parts.
set -u
rm -rf .devdeps/pre && tar xJf .devdeps/pre.tar.xz -C .devdeps
P=.devdeps/pre; export LD_LIBRARY_PATH=$PWD/$P/lib; AZ=$PWD/$P/bin/azstream; W1=/tmp/w1.h5
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
PARTS=${PARTS:-"l2 side stream floor"}
has() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
{ nproc; lscpu | grep -E 'Model name'; nvidia-smi --query-gpu=name --format=csv,noheader; } 2>&1 | tee $OUT/machine.txt
$AZ synth -o $W1 --poni bench/eiger4m.poni --frames 2000 --seed 1 2>&1 | tail -1; cat $W1 > /dev/null
if has l2; then
  echo "== layout 2 (procs, inner gpu) against layout 3 (gpu), 2000 W1 frames, whole runs"
  AZ=$AZ RUNS=3 timeout 150 bash bench/layout2_gpu.sh $W1 2000 2>&1 | tee $OUT/l2.txt
fi
if has side; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl > $OUT/pip.txt 2>&1 && export PYTHONPATH=/tmp/site
  echo "== pyFAI side by side, bbox (pip rc=$?)"
  OMP_NUM_THREADS=16 timeout 170 python3 bench/pyfai_side_by_side $W1 --poni bench/eiger4m.poni --method bbox \
    --workers 16 --frames 64 --frames-parallel 800 --seconds 3 --azstream $AZ > $OUT/side-bbox.txt 2>&1
  echo "rc=$?"; tail -12 $OUT/side-bbox.txt
fi
if has stream; then
  for rate in 560 0; do
    echo "== stream threads, 4 workers, 1 connection, 12000 frames, replay --rate $rate (0: as fast as it can)"
    R=""; [ $rate != 0 ] && R=$rate
    RATE=$R CONNECTIONS=1 AZ=$AZ PY=python3 timeout 75 bash bench/stream_bench.sh 12000 W1 4 threads \
      > $OUT/st4-$rate.txt 2>&1
    grep -iE "sustained|latency|receiving|zero|replay|sent" $OUT/st4-$rate.txt | cut -c1-200
  done
fi
if has floor; then
  echo "== transport floor, W1, 3000 messages, default socket buffers then 8 MiB"
  AZ=$AZ PY=python3 SINKS=drop timeout 60 bash bench/stream_floor.sh 3000 W1 > $OUT/floor-default.txt 2>&1
  FLOOR_SNDBUF=8388608 FLOOR_RCVBUF=8388608 AZ=$AZ PY=python3 SINKS=drop SENDERS=floor timeout 40 \
    bash bench/stream_floor.sh 3000 W1 > $OUT/floor-8m.txt 2>&1
  FLOOR_CONNECTIONS=4 FLOOR_IO_THREADS=4 AZ=$AZ PY=python3 SINKS=drop timeout 60 \
    bash bench/stream_floor.sh 3000 W1 > $OUT/floor-4c.txt 2>&1
  for f in default 8m 4c; do echo "-- $f"; grep -E "^(replay|floor) " $OUT/floor-$f.txt; done
fi
