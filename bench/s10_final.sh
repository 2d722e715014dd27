#!/usr/bin/env bash
# Session 10's closing device call: layout.procs_gpu as committed (bit for bit against the
# threads layout with 1 and 2 workers, and --per-gpu 3 alone giving 3 workers), then 4
# stream workers at an Eiger2 X 4M's 560 frames/s over the 20,000-frame series.
# Carry .devdeps/pre.tar.xz and .devdeps/new.tar.xz (this tree's azstream, stripped).
set -u
rm -rf .devdeps/pre .devdeps/new && tar xJf .devdeps/pre.tar.xz -C .devdeps && tar xJf .devdeps/new.tar.xz -C .devdeps
P=.devdeps/pre; N=.devdeps/new; export LD_LIBRARY_PATH=$PWD/$P/lib; AZ=$PWD/$N/azstream
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; S=$OUT/summary.txt; : > $S
timeout 150 python3 tests/layout/test_procs_gpu.py $AZ /tmp/procs_gpu > $OUT/procs_gpu.txt 2>&1
echo "layout.procs_gpu rc=$? $(tail -1 $OUT/procs_gpu.txt)" | tee -a $S; grep -E "FAIL|Error" $OUT/procs_gpu.txt | head -5 | tee -a $S
PRELOAD=1 RATE=560 CONNECTIONS=1 AZ=$AZ PY=python3 timeout 100 bash bench/stream_bench.sh 20000 W1 4 threads > /tmp/st.txt 2>&1
{ echo "== threads, 4 workers, replay --preload --rate 560, 20000 frames"
  grep -E "sustained|azstream (replay|integrate)|zero loss" /tmp/st.txt | cut -c1-230; } | tee -a $S
