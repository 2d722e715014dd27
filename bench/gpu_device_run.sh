#!/bin/bash
# One device call: build, GPU tests, compute-sanitizer on the decoder test, benchmarks.
# Run from the repository root of the carried copy (.gpu). Logs go to $OUT.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p $OUT
export PKG_CONFIG_PATH=$PWD/deps/usr/lib/x86_64-linux-gnu/pkgconfig
export LD_LIBRARY_PATH=$PWD/deps/usr/lib/x86_64-linux-gnu:$PWD/nvcomp/lib64:${LD_LIBRARY_PATH:-}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,pcie.link.gen.current,pcie.link.width.current --format=csv
t0=$(date +%s)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DAZS_WERROR=ON -DAZS_NVCOMP_DIR=$PWD/nvcomp > $OUT/cmake.log 2>&1 || { tail -20 $OUT/cmake.log; exit 1; }
cmake --build build-gpu -j16 > $OUT/build.log 2>&1 || { grep -E "error" $OUT/build.log | head -20; tail -20 $OUT/build.log; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
B=build-gpu/tests/gpu
(cd build-gpu && ctest -R '^gpu\.' --output-on-failure > $OUT/ctest.log 2>&1); tail -12 $OUT/ctest.log
grep -h "worst\|hand case\|fuzz:\|bit-exact" $OUT/ctest.log | head -20
if [ "${SKIP_SANITIZER:-0}" != 1 ]; then
  compute-sanitizer --tool memcheck --leak-check no $B/test_gpu_decode --quick > $OUT/memcheck.log 2>&1
  echo "memcheck rc=$? : $(grep -E 'ERROR SUMMARY' $OUT/memcheck.log)"
fi
ARGS=${BENCH_ARGS:-"--split bbox|--split full|--split bbox --batch 64|--split bbox --batch 16|--split bbox --mean 2|--real data/eiger4m.bin 2167 2070 --expect-fnv 5fd66e72b84d2ae9"}
IFS='|' read -ra LIST <<< "$ARGS"
for args in "${LIST[@]}"; do
  $B/gpu_bench $args --frames 20000 > $OUT/bench.tmp 2>&1
  echo "== gpu_bench $args (rc=$?)" >> $OUT/bench.log
  cat $OUT/bench.tmp >> $OUT/bench.log
done
[ "${SKIP_NVCOMP:-0}" != 1 ] && [ -x $B/gpu_nvcomp ] && $B/gpu_nvcomp > $OUT/nvcomp.log 2>&1
echo "== total $(( $(date +%s) - t0 )) s"
grep -E "ceilings|frame .*compressed|matrix|kernels per|end to end|real frame" $OUT/bench.log | head -8
cat $OUT/nvcomp.log 2>/dev/null | tail -6
echo "== RESULTS"
grep RESULT $OUT/bench.log | sed 's/RESULT //'
