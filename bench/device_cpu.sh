#!/usr/bin/env bash
# CPU figures of layout 1 on the GPU machine's 16-core host, from a build made elsewhere
# (for an image without the HDF5 / LZ4 / cJSON headers): make it with
#   bash bench/device_cpu.sh --prepare      (here: .devdeps/cpu = binaries + their libraries)
# then, through the device tool with carry [".devdeps", ".whl"]:
#   bash bench/device_cpu.sh [FRAMES] [METHODS]
# It checks the batch engine's bits there (test_fused), makes a W1 stack, prints the
# scaling table of `azstream bench` and pyFAI side by side (wheels in .whl), a table last.
set -u
D=.devdeps/cpu
if [ "${1:-}" = --prepare ]; then
  set -e
  cmake -S . -B $D/build -DCMAKE_BUILD_TYPE=Release -DAZS_WITH_CUDA=OFF -DAZS_WITH_MPI=OFF > /dev/null
  cmake --build $D/build -j "$(nproc)" --target azstream test_fused > /dev/null
  mkdir -p $D/lib && cp $D/build/azstream $D/build/tests/integrate/test_fused $D/
  # every shared library but the C library's own, so that the image's system libraries
  # do not matter
  ldd $D/azstream | awk '$3 ~ /^\// {print $3}' \
    | grep -vE '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux[^/]*)\.so' \
    | xargs -I{} cp -L {} $D/lib/
  du -sh $D/azstream $D/lib
  exit 0
fi
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
FRAMES=${1:-800}; METHODS=${2:-"bbox full"}
export LD_LIBRARY_PATH=$PWD/$D/lib
AZ=$D/azstream
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
{ nproc; lscpu | grep -E 'Model name|Socket|NUMA node\(s\)|L3'; grep -o 'avx512bw\|gfni\|fma' /proc/cpuinfo | sort -u | tr '\n' ' '; echo;
  free -g | head -2; } | tee $OUT/machine.txt
$AZ --version 2>&1 | head -1 || { ldd $AZ; exit 1; }
$D/test_fused 2>&1 | tail -2
W1=/tmp/w1.h5
$AZ synth -o $W1 --poni bench/eiger4m.poni --frames $FRAMES --seed 1 2>&1 | tail -1
cat $W1 > /dev/null   # into the page cache
for m in $METHODS; do
  $AZ bench $W1 --poni bench/eiger4m.poni --method $m --frames ${CPU_FRAMES:-400} --workers ${WORKERS:-1,2,4,8,16} \
     --layouts serial,threads --no-self-read > $OUT/bench-$m.txt 2>&1; cat $OUT/bench-$m.txt
done
if python3 -c 'import pyFAI' 2>/dev/null; then
  for m in $METHODS; do
    OMP_NUM_THREADS=16 timeout ${PYFAI_TIMEOUT:-150} python3 bench/pyfai_side_by_side $W1 --poni bench/eiger4m.poni \
      --method $m --workers 16 --frames ${PYFAI_FRAMES:-64} --frames-parallel ${PYFAI_PAR_FRAMES:-$FRAMES} \
      --azstream $AZ > $OUT/side-by-side-$m.txt 2>&1
    echo "side by side $m rc=$?"
  done
else
  echo "pyFAI not importable: no side by side"
fi
echo "== summary"
for m in $METHODS; do echo "-- $m"; grep -E '^(engine|0 |1 )' $OUT/bench-$m.txt; tail -5 $OUT/side-by-side-$m.txt 2>/dev/null; done
