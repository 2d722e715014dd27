#!/usr/bin/env bash
# A libFuzzer campaign on a many-core machine without clang or the project's headers (the
# device tool's hosts): the harnesses are built here, carried with their shared libraries,
# and run there from the committed seed corpora, several jobs per harness.
#   bash bench/device_fuzz.sh prepare          # here: .devdeps/fuzz.tar.xz (make build-fuzz first)
#   bash bench/device_fuzz.sh run SECONDS      # there, carry .devdeps/fuzz.tar.xz
# JOBS="npy:1 poni:1 ..." sets the jobs per harness (default: the slow harnesses get more).
# Prints, per harness, the executions summed over its jobs (libFuzzer's
# stat::number_of_executed_units), the seconds, and the crashes, timeouts and leaks found;
# logs and any crashing input go to $OUT/fuzz.
set -u
mode=${1:-}
F=.devdeps/fuzz
if [ "$mode" = prepare ]; then
  set -e
  rm -rf $F && mkdir -p $F/bin $F/lib
  find build-fuzz -name 'fuzz_*' -type f -perm -u+x ! -name '*replay*' -exec cp {} $F/bin/ \;
  for x in $F/bin/*; do ldd "$x" 2>/dev/null; done | awk '$3 ~ /^\// {print $3}' | sort -u \
    | grep -vE '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux[^/]*)\.so' \
    | xargs -I{} cp -L {} $F/lib/
  tar cf - -C .devdeps fuzz | xz -T2 -6 > .devdeps/fuzz.tar.xz
  ls $F/bin; du -sh .devdeps/fuzz.tar.xz
  exit 0
fi
[ "$mode" = run ] || { echo "usage: $0 prepare | run SECONDS" >&2; exit 2; }
T=${2:-300}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT/fuzz"
[ -d $F ] || tar xJf .devdeps/fuzz.tar.xz -C .devdeps
R=$PWD
export LD_LIBRARY_PATH=$R/$F/lib OMP_NUM_THREADS=1
JOBS=${JOBS:-"npy:1 poni:1 h5index:1 edf:1 config:2 stream_msg:1 lz4:3 bslz4:3 tiff:3"}
seeds() {
  case $1 in
    poni) echo tests/geometry/poni_corpus;; config) echo tests/job/config_corpus;;
    stream_msg) ls -d tests/stream/*corpus* 2>/dev/null | head -1;; *) echo tests/fuzz/corpus/$1;;
  esac
}
maxlen() { case $1 in poni) echo 4096;; config) echo 8192;; stream_msg) echo 1048576;; *) echo 65536;; esac; }
for hj in $JOBS; do
  h=${hj%%:*}; j=${hj##*:}
  [ -x $F/bin/fuzz_$h ] || { echo "no fuzz_$h"; continue; }
  d=$OUT/fuzz/$h; mkdir -p $d/corpus
  (cd $d && $R/$F/bin/fuzz_$h -jobs=$j -workers=$j -max_total_time=$T -max_len=$(maxlen $h) \
     -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 corpus $R/$(seeds $h) > run.log 2>&1) &
done
wait
printf '%-12s %12s %8s %6s\n' harness executions seconds found
for hj in $JOBS; do
  h=${hj%%:*}; d=$OUT/fuzz/$h
  # libFuzzer's -jobs parent copies each job's fuzz-N.log into its own output (run.log)
  # when the job exits: count the job logs only, else each execution is counted twice
  # (the campaigns of 2026-12-03 before this fix reported twice the true counts).
  logs=$(ls $d/fuzz-*.log 2>/dev/null); [ -n "$logs" ] || logs=$d/run.log
  n=$(cat $logs | awk '/stat::number_of_executed_units/ {s += $2} END {print s + 0}')
  found=$(ls $d 2>/dev/null | grep -cE '^(crash|timeout|leak|oom)-')
  printf '%-12s %12s %8s %6s\n' $h "$n" "$T" "$found"
done
