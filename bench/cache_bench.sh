#!/bin/sh
# The integrator cache, measured (not a test): wall time of `azstream integrate` on the real
# Eiger 4M frame (tests/data/real, MAX IV PONI) with --method full, first run building the
# integrator and writing the cache (an empty cache folder each time), then runs mapping it.
# Each figure is the median of REPEAT runs. Usage: bench/cache_bench.sh [AZSTREAM] [REPEAT]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
exe=${1:-$here/build-dev/azstream}
repeat=${2:-5}
frame=$here/tests/data/real/eiger4m_real_frame_bslz4.h5
poni=$here/tests/data/real/poni/maxiv_azint_bench_Eiger4M.poni
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
run() { "$exe" integrate "$frame" --poni "$poni" --method full --quiet -o "$work/out.h5" "$@"; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
run --no-cache # page cache warm for the inputs and the binary
for i in $(seq "$repeat"); do
    t0=$(now); run --no-cache; t1=$(now); echo "$t1 - $t0" | bc >> "$work/nocache"
    rm -rf "$work/c"; mkdir "$work/c"
    t0=$(now); run --cache-dir "$work/c"; t1=$(now); echo "$t1 - $t0" | bc >> "$work/cold"
    t0=$(now); run --cache-dir "$work/c"; t1=$(now); echo "$t1 - $t0" | bc >> "$work/hit"
done
size=$(du -b "$work"/c/integrator-*.azsi | cut -f1)
nc=$(median < "$work/nocache"); cold=$(median < "$work/cold"); hit=$(median < "$work/hit")
echo "eiger 4M, --method full, median of $repeat runs ($(nproc) cores):"
echo "  no cache           $nc s"
echo "  first run (build + write cache)  $cold s"
echo "  second run (cache hit)           $hit s   ($(echo "scale=1; 100 * $hit / $cold" | bc) % of the first)"
echo "  cache file         $size bytes"
