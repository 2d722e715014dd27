#!/usr/bin/env bash
# One call on the GPU machine (16 cores + H100): build, GPU and AVX-512 tests, a W1 stack,
# the CPU scaling table (layouts 0/1/2), MPI ranks, the GPU layout end to end, and pyFAI
# side by side when its wheels were carried. Logs to $OUT; a short table last.
# Usage (device tool, carry .devdeps and .whl): bash bench/device_run.sh [FRAMES] [METHODS]
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
FRAMES=${1:-1000}; METHODS=${2:-"bbox full"}
export PKG_CONFIG_PATH=$PWD/.devdeps/usr/lib/x86_64-linux-gnu/pkgconfig
export LD_LIBRARY_PATH=$PWD/.devdeps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
{ nproc; lscpu | grep 'Model name'; grep -o 'avx512bw\|gfni\|avx512vbmi' /proc/cpuinfo | sort -u | tr '\n' ' '; echo;
  nvidia-smi --query-gpu=name,clocks.sm,pcie.link.gen.current,pcie.link.width.current --format=csv,noheader; } | tee $OUT/machine.txt
B=build-dev; AZ=$B/azstream
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DAZS_WERROR=ON -DAZS_PYTHON=$(command -v python3) > $OUT/cmake.log 2>&1 \
  && cmake --build $B -j16 > $OUT/build.log 2>&1 || { grep -E 'error|Error' $OUT/build.log $OUT/cmake.log | head; exit 1; }
(cd $B && ctest -L gpu -R 'gpu|avx512' --output-on-failure > $OUT/ctest-gpu.log 2>&1; \
 ctest -R 'codec.unshuffle|integrate.fused|integrate.unit|layout' --output-on-failure >> $OUT/ctest-gpu.log 2>&1)
grep -E 'tests passed|Passed|Failed|Skipped|worst' $OUT/ctest-gpu.log | tail -14
W1=/tmp/w1.h5
$AZ synth -o $W1 --poni bench/eiger4m.poni --frames $FRAMES --seed 1 > $OUT/synth.log 2>&1 || { cat $OUT/synth.log; exit 1; }
cat $W1 > /dev/null   # into the page cache
$AZ info $W1 | tee $OUT/info.txt | head -12
$AZ bench-decode $W1 --frames 0:64 --no-ref > $OUT/bench-decode.txt 2>&1; cat $OUT/bench-decode.txt
# Single-thread engine on frame 0 of W1: AVX2 segment kernel against the portable one.
if [ "${ENGINE_CMP:-0}" = 1 ]; then
  $AZ export $W1 --frames 0:1 -o /tmp/f0.raw > /dev/null
  for m in $METHODS; do for k in avx2 portable; do
    echo "engine $m $k: $(AZS_KERNEL=$k OMP_NUM_THREADS=16 $B/tests/integrate/integrate_bench bench/eiger4m.poni /tmp/f0.raw u32 $m 1000 0 60 | grep -E 'kernel|fps' | tr '\n' ' ')" | tee -a $OUT/engine.txt
  done; done
fi
for m in $METHODS; do
  [ "${SKIP_CPU:-0}" = 1 ] || $AZ bench $W1 --poni bench/eiger4m.poni --method $m --frames ${CPU_FRAMES:-480} \
      --workers 1,2,4,8,16 --layouts ${CPU_LAYOUTS:-serial,threads,procs} > $OUT/bench-cpu-$m.txt 2>&1
  [ "${SKIP_GPU:-0}" = 1 ] || $AZ bench $W1 --poni bench/eiger4m.poni --method $m --frames $FRAMES --layouts gpu --workers ${GPU_READERS:-8,16} > $OUT/bench-gpu-$m.txt 2>&1
done
# GPU layout sweep: "BxSrR" = batch B frames, S slots, R reader threads; with the trace of
# where the main thread waited (readers or GPU).
for combo in ${GPU_SWEEP:-}; do
  b=${combo%%x*}; rest=${combo#*x}; sl=${rest%%r*}; rd=${rest#*r}
  AZS_GPU_BATCH=$b AZS_GPU_SLOTS=$sl AZS_GPU_TRACE=1 $AZ bench $W1 --poni bench/eiger4m.poni --method bbox \
     --frames $FRAMES --layouts gpu --workers $rd 2>&1 | grep -E '^3 gpu|trace' | sed "s/^/$combo: /" | tee -a $OUT/gpu-sweep.txt
done
# A long run without a 30 GB file: an Eiger-style master whose data_NNNNNN links all point
# at W1 (LONG_REPEAT links: LONG_REPEAT x FRAMES frames, read from the page cache each time).
if [ "${LONG_REPEAT:-0}" -gt 0 ]; then
  python3 - "$W1" "${LONG_REPEAT}" <<'PY'
import sys, h5py
with h5py.File('/tmp/long_master.h5', 'w') as f:
    g = f.create_group('entry/data')
    for i in range(1, int(sys.argv[2]) + 1):
        g['data_%06d' % i] = h5py.ExternalLink(sys.argv[1], '/entry/data/data')
PY
  n=$((LONG_REPEAT * FRAMES))
  for combo in ${LONG_COMBOS:-32x4l2}; do
    b=${combo%%x*}; rest=${combo#*x}; sl=${rest%%l*}; lg=${rest#*l}
    for rd in ${LONG_READERS:-16}; do
      for m in $METHODS; do
        AZS_GPU_BATCH=$b AZS_GPU_SLOTS=$sl AZS_GPU_LAG=$lg AZS_GPU_TRACE=1 $AZ bench /tmp/long_master.h5 --poni bench/eiger4m.poni \
           --method $m --frames $n --layouts gpu --workers $rd 2>&1 | grep -E '^3 gpu|trace' \
           | sed "s/^/long $n $m $combo readers $rd: /" | tee -a $OUT/gpu-long.txt
      done
    done
  done
fi
# MPI: R ranks x 16/R threads each over the whole stack; wall time of the mpirun.
for r in ${MPI_RANKS:-1 2 4 16}; do
  t0=$(date +%s.%N)
  mpirun --bind-to none --oversubscribe -np $r $AZ integrate $W1 --poni bench/eiger4m.poni --method bbox --polarization 0.99 \
     --dummy 4294967295 --layout mpi --workers $((16 / r)) --frames 0:${CMP_FRAMES:-480} --quiet -o /tmp/mpi$r.h5 > $OUT/mpi$r.log 2>&1
  echo "mpi ranks=$r threads/rank=$((16 / r)) rc=$? frames/s=$(python3 -c "print(round(${CMP_FRAMES:-480}/($(date +%s.%N)-$t0),1))")" | tee -a $OUT/mpi.txt
done
# Layout 2 + GPU: K worker processes sharing the one GPU, beside layout 3 alone (same frames).
if [ "${PROCS_GPU:-0}" = 1 ]; then
  for k in 0 1 2 4; do
    if [ $k = 0 ]; then L="--layout gpu"; else L="--layout procs --inner gpu --gpus 0 --per-gpu $k"; fi
    $AZ integrate $W1 --poni bench/eiger4m.poni --method bbox --polarization 0.99 --dummy 4294967295 \
       $L --frames 0:$FRAMES -o /tmp/pg$k.h5 2>&1 | tail -1 | sed "s/^/K=$k: /" | tee -a $OUT/procs-gpu.txt
  done
fi
# GPU vs CPU profiles through the CLI (same options, 480 frames), and the serial file vs MPI's.
$AZ integrate $W1 --poni bench/eiger4m.poni --method bbox --polarization 0.99 --dummy 4294967295 --frames 0:${CMP_FRAMES:-480} --layout threads --quiet -o /tmp/cpu.h5
$AZ integrate $W1 --poni bench/eiger4m.poni --method bbox --polarization 0.99 --dummy 4294967295 --frames 0:${CMP_FRAMES:-480} --layout gpu -o /tmp/gpu.h5 2>&1 | tail -2
python3 - <<'PY' | tee $OUT/compare.txt
import h5py, numpy as np
c = h5py.File('/tmp/cpu.h5')['/entry/result/I'][()]
g = h5py.File('/tmp/gpu.h5')['/entry/result/I'][()]
m = h5py.File('/tmp/mpi4.h5')['/entry/result/I'][()]
rel = np.abs(g - c).max(axis=1) / np.abs(c).max(axis=1)
print(f"gpu vs threads: frames {len(c)}, worst |dI|/max(I) = {rel.max():.2e}, "
      f"values differing: {int((g != c).sum())} of {c.size}")
print(f"mpi(4 ranks) vs threads identical: {np.array_equal(m, c)}")
PY
if python3 -c 'import pyFAI' 2>/dev/null; then
  for m in $METHODS; do
    OMP_NUM_THREADS=16 timeout 240 python3 bench/pyfai_side_by_side $W1 --poni bench/eiger4m.poni --method $m \
      --workers 16 --frames ${PYFAI_FRAMES:-160} --frames-parallel ${PYFAI_PAR_FRAMES:-${PYFAI_FRAMES:-160}} --azstream $AZ > $OUT/side-by-side-$m.txt 2>&1; tail -15 $OUT/side-by-side-$m.txt
  done
fi
# pyFAI + silx OpenCL GPU pipeline on the same stack and GPU (the NVIDIA OpenCL library is
# there, its ICD file is not: write it).
if [ "${OCL:-0}" = 1 ]; then
  mkdir -p /etc/OpenCL/vendors && [ -s /etc/OpenCL/vendors/nvidia.icd ] || echo libnvidia-opencl.so.1 > /etc/OpenCL/vendors/nvidia.icd
  for m in $METHODS; do
    timeout 200 python3 bench/pyfai_opencl_side_by_side $W1 --poni bench/eiger4m.poni --method $m \
      --frames ${OCL_FRAMES:-1000} --azstream $AZ > $OUT/opencl-$m.txt 2>&1; echo "opencl $m rc=$?"; tail -8 $OUT/opencl-$m.txt
  done
fi
for m in $METHODS; do echo "== $m"; grep -E '^(engine|0 |1 |2 |3 )' $OUT/bench-cpu-$m.txt $OUT/bench-gpu-$m.txt | sed 's/^[^:]*://'; done
cat $OUT/mpi.txt
cat $OUT/procs-gpu.txt 2>/dev/null
cat $OUT/gpu-sweep.txt 2>/dev/null
cat $OUT/gpu-long.txt 2>/dev/null
cat $OUT/engine.txt 2>/dev/null
