#!/usr/bin/env bash
# Session 10's last device call: the decoder's literal copies four bytes in flight per lane
# (bit-exactness, then kernels only against the first change, azstream-v1 / gpu_bench-v1),
# layout.procs_gpu (never run on a GPU before: procs GPU
# workers keeping their engine, --per-gpu K alone), layout 2 with the smaller pipelines now
# the default for workers sharing a GPU, and the stream rows at the edge of issue 19's
# targets with replay --preload: 4 workers at 560 frames/s, every core over 4 and 8 tcp
# connections. Carry .devdeps/pre.tar.xz and .devdeps/new.tar.xz (this tree's azstream,
# gpu_bench and GPU decoder tests, and the previous commit's azstream-v1 / gpu_bench-v1).
set -u
rm -rf .devdeps/pre .devdeps/new && tar xJf .devdeps/pre.tar.xz -C .devdeps && tar xJf .devdeps/new.tar.xz -C .devdeps
P=.devdeps/pre; N=.devdeps/new; export LD_LIBRARY_PATH=$PWD/$P/lib; AZ=$PWD/$N/azstream; W1=/tmp/w1.h5
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; S=$OUT/summary.txt; : > $S
for t in decode; do $N/test_gpu_$t > $OUT/t.txt 2>&1; echo "test_gpu_$t rc=$? $(tail -1 $OUT/t.txt)" | tee -a $S; done
python3 $P/gpubin/gpu_real_files.py --tool $N/gpu_real_tool --data tests/data > $OUT/t.txt 2>&1
echo "gpu_real rc=$? $(grep -E '^gpu_real' $OUT/t.txt)" | tee -a $S
for r in 1 2; do for b in gpu_bench-v1 gpu_bench; do
  echo "$b run $r: $($N/$b --split bbox --frames 2000 --reps 20 2>&1 | grep -E '^kernels per batch' | cut -c1-150)" | tee -a $S
done; done
timeout 200 python3 tests/layout/test_procs_gpu.py $AZ /tmp/procs_gpu > $OUT/procs_gpu.txt 2>&1
echo "layout.procs_gpu rc=$? $(tail -1 $OUT/procs_gpu.txt)" | tee -a $S; grep -E "FAIL" $OUT/procs_gpu.txt | head -5 | tee -a $S
$AZ synth -o $W1 --poni bench/eiger4m.poni --frames 2000 --seed 1 2>&1 | tail -1; cat $W1 > /dev/null
for b in azstream-v1 azstream; do
  $N/$b bench $W1 --poni bench/eiger4m.poni --method bbox --frames 2000 --layouts gpu > $OUT/t.txt 2>&1
  echo "$b: $(grep -E 'GPU kernels only' $OUT/t.txt | cut -c1-160)" | tee -a $S
done
AZ=$AZ RUNS=2 PER_GPU="2 4" timeout 100 bash bench/layout2_gpu.sh $W1 2000 2>&1 | tee -a $S
row() { local l=$1 n=$2 w=$3 lay=$4; shift 4
  env "$@" PRELOAD=1 AZ=$AZ PY=python3 timeout 80 bash bench/stream_bench.sh $n W1 $w $lay > /tmp/st.txt 2>&1
  { echo "== $l"; grep -E "sustained|azstream (replay|integrate)|zero loss" /tmp/st.txt | cut -c1-230; } | tee -a $S; }
row threads4-rate560 12000 4 threads CONNECTIONS=1 RATE=560
row threads16-tcp4-a 20000 0 threads CONNECTIONS=4
row threads16-tcp8 20000 0 threads CONNECTIONS=8
row threads16-tcp4-b 20000 0 threads CONNECTIONS=4
