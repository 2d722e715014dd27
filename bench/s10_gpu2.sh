#!/usr/bin/env bash
# Session 10's third device call: GPU kernels only on the real W1 stack (azstream bench
# --layouts gpu), the binary before the decoder change (.devdeps/pre/bin/azstream) against
# this tree's (.devdeps/new/azstream), interleaved; then layout 2 with 4 workers on the GPU
# with smaller pipelines per worker (AZS_GPU_SLOTS / AZS_GPU_BATCH, passed to the workers)
# against layout 3. Carry .devdeps/pre.tar.xz and .devdeps/new.tar.xz (bench/s10_gpu.sh).
set -u
rm -rf .devdeps/pre .devdeps/new && tar xJf .devdeps/pre.tar.xz -C .devdeps && tar xJf .devdeps/new.tar.xz -C .devdeps
P=.devdeps/pre; N=.devdeps/new; export LD_LIBRARY_PATH=$PWD/$P/lib; W1=/tmp/w1.h5
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
$N/azstream synth -o $W1 --poni bench/eiger4m.poni --frames 2000 --seed 1 2>&1 | tail -1; cat $W1 > /dev/null
for r in 1 2; do for b in $P/bin/azstream $N/azstream; do
  $b bench $W1 --poni bench/eiger4m.poni --method bbox --frames 2000 --layouts gpu > $OUT/bench-$r-$(basename $(dirname $b)).txt 2>&1
  echo "$b run $r: $(grep -E 'GPU kernels only' $OUT/bench-$r-$(basename $(dirname $b)).txt | cut -c1-200)"
done; done
C=$(mktemp -d); AZ=$N/azstream
run() { local l=$1; shift; local t0=$(date +%s.%N)
  env "$@" $AZ integrate $W1 --poni bench/eiger4m.poni --method bbox --cache-dir $C -o $C/o.h5 --overwrite --log-level error \
    --layout procs --inner gpu --gpus 0 --per-gpu 4 > $C/log 2>&1; local rc=$? t1=$(date +%s.%N)
  awk -v l="$l" -v rc=$rc -v a=$t0 -v b=$t1 'BEGIN { printf "%-34s rc=%d %6.3f s %7.1f frames/s\n", l, rc, b - a, 2000 / (b - a) }'; }
$AZ integrate $W1 --poni bench/eiger4m.poni --method bbox --cache-dir $C -o $C/o.h5 --overwrite --log-level error --layout gpu
for r in 1 2; do
  t0=$(date +%s.%N); $AZ integrate $W1 --poni bench/eiger4m.poni --method bbox --cache-dir $C -o $C/o.h5 --overwrite \
    --log-level error --layout gpu; t1=$(date +%s.%N)
  awk -v a=$t0 -v b=$t1 'BEGIN { printf "%-34s       %6.3f s %7.1f frames/s\n", "layout gpu", b - a, 2000 / (b - a) }'
  run "procs 4, slots 4 x batch 32" X=1
  run "procs 4, slots 2 x batch 32" AZS_GPU_SLOTS=2
  run "procs 4, slots 2 x batch 16" AZS_GPU_SLOTS=2 AZS_GPU_BATCH=16
  run "procs 4, slots 3 x batch 16" AZS_GPU_SLOTS=3 AZS_GPU_BATCH=16
done
