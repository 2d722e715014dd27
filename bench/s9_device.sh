#!/usr/bin/env bash
# The last device call of session 9 (doc/performance.md, "Session 9"), kept to be run again:
# per core old / new (core_bench, azstream bench layout 1), stream with 4 workers, layout 2
# against layout 3. Here: BASE=<old commit> bash bench/device_prebuilt.sh prepare, then pack
# .devdeps/pre/{bin,lib} into .devdeps/pre.tar.xz (the carry limit); there:
#   timeout 280 bash bench/s9_device.sh      (carry .devdeps/pre.tar.xz)
set -u
rm -rf .devdeps/pre && tar xJf .devdeps/pre.tar.xz -C .devdeps
P=.devdeps/pre; export LD_LIBRARY_PATH=$PWD/$P/lib; AZ=$P/bin/azstream; W1=/tmp/w1.h5
grep -o 'avx512bw' /proc/cpuinfo | head -1
$AZ synth -o $W1 --poni bench/eiger4m.poni --frames 2000 --seed 1 2>&1 | tail -1; cat $W1 > /dev/null
echo "== stream threads 4 workers, 1 connection, 12000 frames (batches of 8)"
CONNECTIONS=1 AZ=$PWD/$AZ PY=python3 timeout 80 bash bench/stream_bench.sh 12000 W1 4 threads > $OUT/st4.txt 2>&1
grep -iE "sustained|latency|receiving|zero" $OUT/st4.txt | cut -c1-230
for m in bbox full; do for b in core_bench-base core_bench; do
  echo "== $b $m"; OMP_NUM_THREADS=1 timeout 40 taskset -c 2 $P/bin/$b $W1 bench/eiger4m.poni $m 0.5 3 2>&1 \
    | tee $OUT/core-$b-$m.txt | grep -E 'core_bench|fused b(1|4|8)|decode' | head -6
done; done
for b in azstream-base azstream; do
  echo "== $b bench threads bbox"; timeout 60 $P/bin/$b bench $W1 --poni bench/eiger4m.poni --method bbox --frames 2000 \
    --layouts threads --workers 1,16 --read map --seconds 2 2>&1 | tee $OUT/bench-$b.txt | grep -E '^1 thr|per core'
done
echo "== layout 2 vs 3"; AZ=$AZ RUNS=2 timeout 100 bash bench/layout2_gpu.sh $W1 2000 2>&1 | tee $OUT/l2.txt
