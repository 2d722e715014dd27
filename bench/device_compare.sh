#!/usr/bin/env bash
# One device call comparing two builds side by side (e.g. the landed commit and the work tree):
# here, put the binaries in .devdeps/final/bin (azstream, azstream-before, test_gpu_integrate,
# test_gpu_decode) and their shared libraries (ldd) in .devdeps/final/lib; then through the
# device tool, carry .devdeps/final: bash bench/device_compare.sh
P=.devdeps/final; export LD_LIBRARY_PATH=$PWD/$P/lib; OUT=${OUT:-/tmp/out}; mkdir -p $OUT
AZ=$P/bin/azstream; B=$P/bin/azstream-before
nproc; nvidia-smi --query-gpu=name --format=csv,noheader
timeout 150 $P/bin/test_gpu_integrate > $OUT/gpu_integrate.txt 2>&1; echo "test_gpu_integrate rc=$?"; tail -3 $OUT/gpu_integrate.txt
timeout 60 $P/bin/test_gpu_decode --quick > $OUT/gpu_decode.txt 2>&1; echo "test_gpu_decode rc=$?"; tail -2 $OUT/gpu_decode.txt
$AZ synth -o /tmp/w1.h5 --poni bench/eiger4m.poni --frames 800 --seed 1 2>&1 | tail -1
cat /tmp/w1.h5 > /dev/null
for run in "bbox 1" "full 1" "bbox 2"; do
  set -- $run
  for b in $B $AZ; do
    n=$(basename $b)
    timeout 100 $b bench /tmp/w1.h5 --poni bench/eiger4m.poni --method $1 --frames 800 --layouts threads,gpu \
      --workers 16 --read map > $OUT/bench-$n-$1-$2.txt 2>&1
    echo "rc=$? $n $1 run $2"; grep -E '^1 threads|^3 gpu' $OUT/bench-$n-$1-$2.txt
  done
done
