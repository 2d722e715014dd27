#!/usr/bin/env bash
# Session 10's second device call: the LZ4 decoder without a division per match byte
# (gpu_decode.cu) against the one before (gpu_bench-base), bit-exactness first (test_gpu_decode,
# every real chunk against the CPU decoder), then kernels-only A/B interleaved; layout 2 with
# 1, 2 and 4 workers on the GPU (--gpus 0 --per-gpu K) against layout 3, with the workers'
# start-up traced. Here: the prebuilt of bench/s10_device.sh plus .devdeps/new (this tree's
# azstream, gpu_bench, GPU tests, stripped, and gpu_bench-base built before the change).
#   timeout 590 bash bench/s10_gpu.sh      (carry .devdeps/pre.tar.xz, .devdeps/new.tar.xz)
set -u
rm -rf .devdeps/pre .devdeps/new && tar xJf .devdeps/pre.tar.xz -C .devdeps && tar xJf .devdeps/new.tar.xz -C .devdeps
P=.devdeps/pre; N=.devdeps/new; export LD_LIBRARY_PATH=$PWD/$P/lib; AZ=$PWD/$N/azstream; W1=/tmp/w1.h5
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
for t in decode integrate; do
  $N/test_gpu_$t > $OUT/test_gpu_$t.txt 2>&1; echo "test_gpu_$t rc=$?"; tail -2 $OUT/test_gpu_$t.txt
done
python3 $P/gpubin/gpu_real_files.py --tool $N/gpu_real_tool --data tests/data > $OUT/gpu_real.txt 2>&1
echo "gpu_real rc=$?"; grep -E 'FAIL|gpu_real|not on the GPU|bit-exact' $OUT/gpu_real.txt | tail -4
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
[ -n "$CS" ] && { timeout 120 $CS --tool memcheck $N/test_gpu_decode --quick > $OUT/memcheck.txt 2>&1; echo "memcheck rc=$?"; tail -1 $OUT/memcheck.txt; }
echo "== kernels only, batch 32, W1-like (base = before the change), interleaved"
for r in 1 2 3; do for b in gpu_bench-base gpu_bench; do for s in bbox full; do
  $N/$b --split $s --frames 2000 --reps 20 > $OUT/$b-$s-$r.txt 2>&1
  echo "$b $s run $r: $(grep -E '^kernels per batch' $OUT/$b-$s-$r.txt | cut -c1-150)"
done; done; done
$AZ synth -o $W1 --poni bench/eiger4m.poni --frames 2000 --seed 1 2>&1 | tail -1; cat $W1 > /dev/null
echo "== layout 2 vs 3, 2000 W1 frames"
AZ=$AZ RUNS=2 timeout 150 bash bench/layout2_gpu.sh $W1 2000 2>&1 | tee $OUT/l2.txt
for k in 2 4; do echo "-- traced, per-gpu $k"; AZS_GPU_TRACE=1 $AZ integrate $W1 --poni bench/eiger4m.poni --method bbox \
  --cache-dir /tmp/l2c -o /tmp/o.h5 --overwrite --layout procs --inner gpu --gpus 0 --per-gpu $k 2>&1 | cut -c1-220; done
echo "-- layout gpu, traced"; AZS_GPU_TRACE=1 $AZ integrate $W1 --poni bench/eiger4m.poni --method bbox --cache-dir /tmp/l2c \
  -o /tmp/o.h5 --overwrite --layout gpu 2>&1 | cut -c1-220
