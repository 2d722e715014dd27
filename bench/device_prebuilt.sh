#!/usr/bin/env bash
# One device call, with binaries built here: the nvidia-h200 image has no HDF5, LZ4 or
# cJSON headers (no build there), but nvcc is here. Three steps:
#   bash bench/device_prebuilt.sh prepare   # here: .devdeps/pre/{bin,gpubin,lib,real}
# then through the device tool (carry what the mode needs):
#   bash bench/device_prebuilt.sh gpu       # carry .devdeps/pre/bin, .devdeps/pre/gpubin,
#                                           #   .devdeps/pre/lib, .devdeps/pre/real (about 50 MB)
#   bash bench/device_prebuilt.sh cpu [FRAMES] [METHODS]
#                                           # carry .devdeps/pre/bin, .devdeps/pre/lib, .whl
#                                           #   (about 56 MB; the carry limit is 64 MiB)
# gpu: the GPU tests (decoder, integrator), the GPU decoder against the CPU one on every
#   chunk of the real files, GPU vs CPU profiles (real Eiger frame, W1) with the worst case,
#   and `azstream bench --layouts gpu` on W1.
# cpu: the batch engine's bits (test_fused), the layout-1 scaling table and pyFAI side by
#   side (wheels in .whl); SELF_READ=" " adds the self-read rows.
#   bash bench/device_prebuilt.sh stream    # carry .devdeps/pre/bin, .devdeps/pre/gpubin,
#                                           #   .devdeps/pre/lib: stream.gpu, stream.connections
#                                           #   gpu, the sender alone, rates over 1 and CONN (4)
#                                           #   connections, latencies, a table last
#   bash bench/device_prebuilt.sh feeds     # carry .devdeps/pre/bin, .devdeps/pre/lib: layout gpu's
#                                           #   feeds (issue 20), 3 runs each on 12,000 W1 frames
#                                           #   (about 3 minutes; RUNS, VARIANTS, ROW_TIMEOUT)
#   bash bench/device_prebuilt.sh scaling   # carry .devdeps/pre/bin, .devdeps/pre/lib
# scaling: layout 1 against the work alone and the host probes, interleaved sweeps
#   (METHODS, WORKERS, ROW_REPEAT, ROW_SECONDS, READ, ENVS, BENCH_ARGS; see below).
#   bash bench/device_prebuilt.sh core      # carry .devdeps/pre/bin, .devdeps/pre/lib
# core: one core's decode / integrate / fused rates per batch size (bench/core_bench, CPU
#   time, pinned to CPU $CORE), then `azstream bench` layout 1 at WORKERS (default 1,2),
#   for every core_bench* and azstream* binary in $P/bin: `BASE=<commit> bash
#   bench/device_prebuilt.sh prepare` adds that commit's pair as core_bench-base and
#   azstream-base, so one call measures before and after side by side (interleaved).
set -u
P=.devdeps/pre
mode=${1:-}
if [ "$mode" = prepare ]; then
  set -e
  cuda=OFF
  if command -v nvcc > /dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then cuda=ON; fi
  cmake -S . -B $P/build -DCMAKE_BUILD_TYPE=Release -DAZS_WITH_CUDA=$cuda -DAZS_WITH_MPI=OFF > /dev/null
  t="azstream test_fused stream_floor core_bench"
  if [ $cuda = ON ]; then t="$t test_gpu_decode test_gpu_integrate gpu_real_tool"; fi
  cmake --build $P/build -j "$(nproc)" --target $t > /dev/null
  rm -rf $P/bin $P/gpubin $P/lib $P/real && mkdir -p $P/bin $P/gpubin $P/lib
  for x in $t; do
    d=$P/gpubin; case $x in azstream|test_fused|stream_floor|core_bench) d=$P/bin;; esac
    find $P/build -name "$x" -type f -perm -u+x -exec cp {} $d/ \;
  done
  if [ -n "${BASE:-}" ]; then
    # the same two programs at an earlier commit (core_bench.c is this tree's: it uses only
    # what older trees have)
    rm -rf $P/base && mkdir -p $P/base && git archive "$BASE" | tar -x -C $P/base
    cp bench/core_bench.c $P/base/bench/
    grep -q core_bench $P/base/CMakeLists.txt || cat >> $P/base/CMakeLists.txt <<'CM'
add_executable(core_bench bench/core_bench.c)
target_link_libraries(core_bench PRIVATE azs_integrate azs_h5 azs_codec)
target_include_directories(core_bench PRIVATE ${PROJECT_SOURCE_DIR}/src)
CM
    cmake -S $P/base -B $P/base/build -DCMAKE_BUILD_TYPE=Release -DAZS_WITH_CUDA=OFF \
      -DAZS_WITH_MPI=OFF -DAZS_BUILD_TESTS=OFF > /dev/null
    cmake --build $P/base/build -j "$(nproc)" --target azstream core_bench > /dev/null
    for x in azstream core_bench; do
      find $P/base/build -name "$x" -type f -perm -u+x -exec cp {} $P/bin/$x-base \;
    done
  fi
  cp tests/gpu/gpu_real_files.py $P/gpubin/
  # every shared library but the C library's own, so that the image's do not matter
  for x in $P/bin/* $P/gpubin/*; do ldd "$x" 2>/dev/null; done | awk '$3 ~ /^\// {print $3}' | sort -u \
    | grep -vE '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux[^/]*)\.so' \
    | xargs -I{} cp -L {} $P/lib/
  cp -r tests/data/real $P/real   # the prebuilt folder carries its own copy
  du -sh $P/bin $P/gpubin $P/lib $P/real
  exit 0
fi
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$PWD/$P/lib
AZ=$P/bin/azstream
{ nproc; lscpu | grep -E 'Model name|Socket|Core\(s\) per|Thread\(s\) per|NUMA node\(s\)|L3|MHz'
  grep -o 'avx512bw\|gfni\|fma' /proc/cpuinfo | sort -u | tr '\n' ' '; echo; free -g | head -2
  nvidia-smi --query-gpu=name,clocks.sm,pcie.link.gen.current,pcie.link.width.current \
    --format=csv,noheader 2>/dev/null; } | tee $OUT/machine.txt
$AZ --version 2>&1 | head -1 || { ldd $AZ; exit 1; }
W1=${W1:-/tmp/w1.h5}
if [ "$mode" = stream ]; then
  # Stream V2 over loopback: the GPU layout against threads bit for bit (tests/stream, with
  # several connections too), the sender alone into a null receiver, then replay -> integrate
  # rates, zero-loss checks and latencies: threads (all cores, and 4 workers) and gpu, each
  # over 1 and CONN (default 4) connections; FRAMES (20000) W1 frames each; a table last.
  $P/gpubin/test_gpu_decode > $OUT/test_gpu_decode.txt 2>&1; echo "test_gpu_decode rc=$?"
  python3 tests/stream/test_stream_gpu.py $AZ /tmp/sg > $OUT/stream_gpu.txt 2>&1
  echo "stream.gpu rc=$?"; grep -E "FAIL|ok|tests" $OUT/stream_gpu.txt | tail -8
  python3 tests/stream/test_stream_connections.py $AZ /tmp/sc gpu > $OUT/stream_connections_gpu.txt 2>&1
  echo "stream.connections_gpu rc=$?"; grep -E "FAIL|ok|skipped" $OUT/stream_connections_gpu.txt | tail -4
  python3 -c 'import sys, numpy; print("python", sys.version.split()[0], "numpy", numpy.__version__)'
  CONN=${CONN:-4}
  # the sender alone: replay (and the preloaded floor sender) into a receiver that only receives
  for c in 1 $CONN; do
    AZ=$PWD/$AZ FLOOR=$PWD/$P/bin/stream_floor PY=python3 SINKS=drop FLOOR_CONNECTIONS=$c FLOOR_IO_THREADS=$c \
      SENDERS="${FLOOR_SENDERS:-replay floor}" bash bench/stream_floor.sh ${FLOOR_FRAMES:-5000} W1 \
      2>&1 | tee $OUT/stream-floor-c$c.txt
  done
  for run in "threads 0" "threads 4" "gpu 0"; do
    set -- $run
    for c in 1 $CONN; do
      f=$OUT/stream-$1-$2-c$c.txt
      CONNECTIONS=$c AZ=$PWD/$AZ PY=python3 bash bench/stream_bench.sh ${FRAMES:-20000} W1 $2 $1 > $f 2>&1
      echo "== stream $1, workers $2, connections $c (rc=$?)"
      grep -iE "frames/s|lost|latency|rows|receiving" $f | head -7
    done
  done
  { echo "W1 frames over tcp loopback, ${FRAMES:-20000} per run (sustained: replay start to the output closed)"
    printf '%-8s %-7s %-5s %12s %10s %9s %9s\n' layout workers conn frames/s "zero loss" "lat p50" "lat p99"
    for run in "threads 0" "threads 4" "gpu 0"; do
      set -- $run
      for c in 1 $CONN; do
        f=$OUT/stream-$1-$2-c$c.txt
        r=$(sed -nE 's/.*sustained: .* ([0-9.]+) frames\/s.*/\1/p' $f | head -1)
        z=$(sed -nE 's/^zero loss: ([A-Za-z]+).*/\1/p' $f | head -1)
        l=$(sed -nE 's/.*median ([0-9.]+) ms, 99th percentile ([0-9.]+) ms.*/\1 \2/p' $f | head -1)
        printf '%-8s %-7s %-5s %12s %10s %9s %9s\n' $1 $2 $c "${r:-?}" "${z:-?}" ${l:-? ?}
      done
    done
    echo "sender alone (messages/s into a null receiver):"
    for c in 1 $CONN; do grep -E '^(replay|floor) ' $OUT/stream-floor-c$c.txt | sed "s/^/  connections $c: /"; done
  } | tee $OUT/stream-table.txt
  exit 0
fi
if [ "$mode" = gpu ]; then
  for t in decode integrate; do
    $P/gpubin/test_gpu_$t > $OUT/test_gpu_$t.txt 2>&1; echo "test_gpu_$t rc=$?"; tail -3 $OUT/test_gpu_$t.txt
  done
  python3 $P/gpubin/gpu_real_files.py --tool $P/gpubin/gpu_real_tool --data $P > $OUT/gpu_real.txt 2>&1
  echo "gpu_real rc=$?"; grep -E 'FAIL|gpu_real|not on the GPU' $OUT/gpu_real.txt | tail -5
  CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
  if [ -n "$CS" ]; then
    timeout 240 $CS --tool memcheck --leak-check full $P/gpubin/test_gpu_decode --quick \
      > $OUT/memcheck.txt 2>&1; echo "memcheck test_gpu_decode --quick rc=$?"; tail -2 $OUT/memcheck.txt
  else
    echo "no compute-sanitizer here"
  fi
  R=$P/real/eiger4m_real_frame_bslz4.h5; RP=$P/real/poni/maxiv_azint_bench_Eiger4M.poni
  $AZ synth -o $W1 --poni bench/eiger4m.poni --frames ${FRAMES:-2000} --seed 1 2>&1 | tail -1
  for m in bbox full; do
    for L in threads gpu; do
      $AZ integrate $R --poni $RP --method $m --polarization 0.99 --dummy 4294967295 --layout $L \
        --quiet -o /tmp/real-$L-$m.h5
      $AZ integrate $W1 --poni bench/eiger4m.poni --method $m --polarization 0.99 --dummy 4294967295 \
        --frames 0:480 --layout $L --quiet -o /tmp/w1-$L-$m.h5
    done
  done
  python3 - <<'PY' | tee $OUT/compare.txt
import h5py, numpy as np
for what in ("real", "w1"):
    for m in ("bbox", "full"):
        c = h5py.File(f"/tmp/{what}-threads-{m}.h5")["/entry/result/I"][()]
        g = h5py.File(f"/tmp/{what}-gpu-{m}.h5")["/entry/result/I"][()]
        rel = (np.abs(g - c).max(axis=1) / np.abs(c).max(axis=1)).max()
        print(f"GPU vs CPU, {what} {m}: {len(c)} frames, worst |dI|/max(I) {rel:.2e}, "
              f"values differing {int((g != c).sum())} of {c.size}")
PY
  # pyFAI's options (issue 15) through the GPU layout: bit for bit the threads layout's
  # profiles, on the real frame (defaults: the detector's dummy, its pixel_mask).
  python3 -c "import numpy as np; from PIL import Image" 2>/dev/null && HAVE_PIL=1 || HAVE_PIL=0
  i=0
  while IFS= read -r opts; do
    i=$((i + 1))
    for L in threads gpu; do
      $AZ integrate $R --poni $RP $opts --layout $L --quiet -o /tmp/opt$i-$L.h5 2> /tmp/opt$i-$L.err
      echo $? > /tmp/opt$i-$L.rc
    done
    echo "$opts" > /tmp/opt$i.what
  done <<'OPTS'
--npt 1000
--npt 500 --npt-azim 72 --method full --error-model poisson
--npt 500 --chi-disc-at-0 --azimuth-range 350:10 --method full
--npt 300 --npt-azim 36 --chi-disc-at-0 --method bbox --error-model azimuthal
--npt 300 --radial-range 5: --azimuth-range :90 --method no
--npt 300 --npt-azim 36 --radial-range :20 --unit 2th_deg --unit-azim chi_rad
--npt 400 --unit d*2_A^-2 --normalization-factor 3.5 --polarization 0.95 --polarization-offset 0.2
--npt 400 --unit r_m --no-solid-angle --no-pixel-mask --error-model poisson
--npt 400 --unit arcsinh(q.nm)_None --method full --empty 0
OPTS
  python3 - $i <<'PY' | tee $OUT/options_gpu.txt
import sys, h5py, numpy as np
for k in range(1, int(sys.argv[1]) + 1):
    what = open(f"/tmp/opt{k}.what").read().strip()
    rc = [int(open(f"/tmp/opt{k}-{L}.rc").read()) for L in ("threads", "gpu")]
    if rc != [0, 0]:
        err = open(f"/tmp/opt{k}-gpu.err").read().strip().splitlines()[-1:]
        print(f"FAIL rc {rc}: {what} {err}")
        continue
    c, g = (h5py.File(f"/tmp/opt{k}-{L}.h5")["/entry/result"] for L in ("threads", "gpu"))
    same = all(np.array_equal(c[n][()], g[n][()], equal_nan=True) for n in c if n in g and c[n].shape == g[n].shape)
    print(("ok  " if same else "FAIL") + f" gpu == threads bit for bit: {what}")
PY
  for m in bbox full; do
    $AZ bench $W1 --poni bench/eiger4m.poni --method $m --frames ${FRAMES:-2000} --layouts gpu \
      --workers 16 > $OUT/bench-gpu-$m.txt 2>&1; grep -E 'kernel|^3 gpu' $OUT/bench-gpu-$m.txt
  done
  # Long runs without a 40 GB file: an Eiger-style master whose data_NNNNNN links all point
  # at W1, so LONG_REPEAT x FRAMES frames come through the page cache.
  python3 - "$W1" "${LONG_REPEAT:-6}" <<'PY'
import sys, h5py
with h5py.File('/tmp/long_master.h5', 'w') as f:
    g = f.create_group('entry/data')
    for i in range(1, int(sys.argv[2]) + 1):
        g['data_%06d' % i] = h5py.ExternalLink(sys.argv[1], '/entry/data/data')
PY
  n=$((${LONG_REPEAT:-6} * ${FRAMES:-2000}))
  for rep in 1 2; do
    for m in bbox full; do
      AZS_GPU_TRACE=1 $AZ bench /tmp/long_master.h5 --poni bench/eiger4m.poni --method $m --frames $n \
        --layouts gpu --workers 16 2>&1 | grep -E 'kernel|^3 gpu|trace' | sed "s/^/long $n $m run $rep: /" \
        | tee -a $OUT/gpu-long.txt
    done
  done
  exit 0
fi
if [ "$mode" = feeds ]; then
  # Issue 20: layout gpu's feeds side by side (doc/gpu-notes.md "Feeding"), about 3 minutes.
  # First the feeds against layout threads bit for bit (tests/layout/test_gpu_feeds.py), then
  # 12,000 W1 frames (a master of 6 links to the 2,000-frame W1 file, from the page cache),
  # bbox, 16 readers, RUNS runs of each variant, interleaved:
  #   pread           the present path (pread into pinned buffers)
  #   register        the file mapped and registered by 512 MiB windows, at most 4 GiB kept:
  #                   the 6.9 GB file is registered again on each of the 6 passes, as a file
  #                   read once would be
  #   register-keep   the same with 16 GiB kept: registered once, reused by passes 2-6
  #   direct          O_DIRECT reads into the pinned buffers (the disk, not the page cache)
  #   pread-prepare   pread, the engine started before the integrator's build (--gpu-prepare)
  # then a table of medians: whole run and after set-up (frames/s), set-up, the main
  # thread's waits (readers, GPU), and the feed's own figures.
  RUNS=${RUNS:-3}
  python3 tests/layout/test_gpu_feeds.py $AZ /tmp/gfeeds > $OUT/test_gpu_feeds.txt 2>&1
  echo "layout.gpu_feeds rc=$? (0 ok, 77 skipped)"; grep -E 'FAIL|refused|fed by it|tests:' $OUT/test_gpu_feeds.txt | tail -8
  $AZ synth -o $W1 --poni bench/eiger4m.poni --frames ${FRAMES:-2000} --seed 1 2>&1 | tail -1
  python3 - "$W1" "${LONG_REPEAT:-6}" <<'PY'
import sys, h5py
with h5py.File('/tmp/long_master.h5', 'w') as f:
    g = f.create_group('entry/data')
    for i in range(1, int(sys.argv[2]) + 1):
        g['data_%06d' % i] = h5py.ExternalLink(sys.argv[1], '/entry/data/data')
PY
  n=$((${LONG_REPEAT:-6} * ${FRAMES:-2000}))
  cat $W1 > /dev/null; df -T /tmp | tail -1 | tee $OUT/feeds-fs.txt
  for rep in $(seq 1 $RUNS); do
    for v in ${VARIANTS:-pread register register-keep direct pread-prepare}; do
      feed=${v%%-*}; extra=; envs=
      case $v in register-keep) envs="AZS_GPU_REGISTER_CAP_MIB=16384";; pread-prepare) extra=--gpu-prepare;; esac
      env AZS_GPU_TRACE=1 $envs timeout ${ROW_TIMEOUT:-60} $AZ bench /tmp/long_master.h5 --poni bench/eiger4m.poni \
        --method bbox --frames $n --layouts gpu --workers 16 --gpu-feed $feed $extra > $OUT/feed-$v-$rep.txt 2>&1
      echo "$v run $rep rc=$?: $(grep -E '^3 gpu' $OUT/feed-$v-$rep.txt | tr -s ' ' | cut -c1-120)"
      grep -E 'refused' $OUT/feed-$v-$rep.txt | head -1
    done
  done
  grep -h kernel $OUT/feed-pread-1.txt | head -2
  python3 - "$OUT" "$RUNS" "${VARIANTS:-pread register register-keep direct pread-prepare}" <<'PY' | tee $OUT/feeds-table.txt
import re, statistics as st, sys
out, runs, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
pat = {
    "whole": r"^3 gpu \(reader threads\)\s+\d+\s+([\d.]+)",
    "setup": r"set-up ([\d.]+) s; ([\d.]+) frames/s after it",
    "readers": r"waited for readers ([\d.]+) s, for the GPU ([\d.]+) s",
    "feed": r"(\d+) frames fed by it; windows (\d+) \(([\d.]+) GB\) mapped and registered in ([\d.]+) s; "
            r"readers waited for windows ([\d.]+) s",
}
print("\n%-14s %5s %9s %9s %7s %8s %8s %7s %5s %8s %8s" % ("feed (median)", "runs", "whole f/s", "after f/s",
      "set-up", "wait rd", "wait gpu", "fed", "win", "reg GB/s", "win wait"))
for v in variants:
    rows = []
    for r in range(1, runs + 1):
        try:
            t = open(f"{out}/feed-{v}-{r}.txt").read()
        except OSError:
            continue
        m = {k: re.search(p, t, re.M) for k, p in pat.items()}
        if not m["whole"] or not m["setup"]:
            continue
        f = m["feed"]
        rows.append((float(m["whole"][1]), float(m["setup"][2]), float(m["setup"][1]),
                     float(m["readers"][1]) if m["readers"] else -1, float(m["readers"][2]) if m["readers"] else -1,
                     int(f[1]) if f else -1, int(f[2]) if f else -1,
                     float(f[3]) / float(f[4]) if f and float(f[4]) > 0 else 0, float(f[5]) if f else -1,
                     "refused" in t))
    if not rows:
        print("%-14s %5d  (no result: see feed-%s-*.txt)" % (v, 0, v))
        continue
    med = [st.median(c) for c in list(zip(*rows))[:9]]
    print("%-14s %5d %9.0f %9.0f %7.3f %8.3f %8.3f %7d %5d %8.1f %8.3f%s" % (v, len(rows), *med,
          "  REFUSED: pread ran" if any(r[9] for r in rows) else ""))
    print("%-14s       whole run each: %s" % ("", " / ".join("%.0f" % r[0] for r in rows)))
PY
  exit 0
fi
if [ "$mode" = scaling ]; then
  # Layout 1's scaling against the host's own (clock and ALU probes, steal, the work alone on the
  # same thread counts), for every azstream* binary in $P/bin and every setting in ENVS
  # (e.g. ENVS="X=0 X=1"), on FRAMES frames seen LINKS times through a master of links.
  $AZ synth -o $W1 --poni bench/eiger4m.poni --frames ${FRAMES:-800} --seed 1 2>&1 | tail -1
  python3 - "$W1" "${LINKS:-4}" <<'PY'
import sys, h5py
with h5py.File('/tmp/scal_master.h5', 'w') as f:
    g = f.create_group('entry/data')
    for i in range(1, int(sys.argv[2]) + 1):
        g['data_%06d' % i] = h5py.ExternalLink(sys.argv[1], '/entry/data/data')
PY
  cat $W1 > /dev/null
  for b in $P/bin/azstream*; do
    for e in ${ENVS:-NONE=0}; do
      for m in ${METHODS:-bbox}; do
        tag="$(basename $b) $e $m"; f="$OUT/scal-$(echo "$tag" | tr ' =' '__').txt"
        env $e $b bench /tmp/scal_master.h5 --poni bench/eiger4m.poni --method $m --frames 400 \
          --seconds ${ROW_SECONDS:-2} --repeat ${ROW_REPEAT:-3} --workers ${WORKERS:-1,16} \
          --layouts threads --read ${READ:-self} ${BENCH_ARGS:-} > "$f" 2>&1
        echo "== $tag"; grep -E 'clock|ALU|at once|^(decode|1 thr)' "$f"
      done
    done
  done
  exit 0
fi
if [ "$mode" = core ]; then
  # Per core (issue 20: decode + integrate >= 150 frames/s per core): core_bench pinned to
  # one CPU (CPU time, best and median of CORE_REPEAT interleaved runs), then layout 1.
  $AZ synth -o $W1 --poni bench/eiger4m.poni --frames ${FRAMES:-400} --seed 1 2>&1 | tail -1
  cat $W1 > /dev/null
  for rep in $(seq 1 ${SWEEPS:-2}); do
    for m in ${METHODS:-bbox full}; do
      for b in $P/bin/core_bench*; do
        echo "== sweep $rep: $(basename $b) $m"
        OMP_NUM_THREADS=1 taskset -c ${CORE:-2} $b $W1 bench/eiger4m.poni $m ${CORE_SECONDS:-0.5} \
          ${CORE_REPEAT:-3} 2>&1 | tee -a $OUT/core-$(basename $b)-$m.txt | grep -E 'core_bench|lz4|decode|engine|fused b(1|4|8)'
      done
      for b in $P/bin/azstream*; do
        echo "== sweep $rep: $(basename $b) bench $m"
        $b bench $W1 --poni bench/eiger4m.poni --method $m --frames 400 --layouts threads \
          --workers ${WORKERS:-1,2} --read map --seconds ${ROW_SECONDS:-2} 2>&1 \
          | tee -a $OUT/bench-$(basename $b)-$m.txt | grep -E 'per core|at once|^(decode|1 thr)'
      done
    done
  done
  exit 0
fi
if [ "$mode" != cpu ]; then echo "usage: $0 prepare | gpu | feeds | cpu [FRAMES] [METHODS] | scaling | stream | core"; exit 2; fi
FRAMES=${2:-800}; METHODS=${3:-"bbox full"}
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
$P/bin/test_fused 2>&1 | tail -2
$AZ synth -o $W1 --poni bench/eiger4m.poni --frames $FRAMES --seed 1 2>&1 | tail -1
cat $W1 > /dev/null   # into the page cache
# one core's decode / integrate / fused batches (the `core` mode does more of these)
for m in $METHODS; do
  OMP_NUM_THREADS=1 taskset -c ${CORE:-2} $P/bin/core_bench $W1 bench/eiger4m.poni $m 0.5 3 \
    > $OUT/core-$m.txt 2>&1; cat $OUT/core-$m.txt
done
# Rows of about ROW_SECONDS each (up to the stack): a 400-frame row of 16 workers lasts
# 0.3 s and measures its start and tail as much as its pace.
for m in $METHODS; do
  $AZ bench $W1 --poni bench/eiger4m.poni --method $m --frames ${CPU_FRAMES:-400} \
    --seconds ${ROW_SECONDS:-3} --repeat ${ROW_REPEAT:-1} --workers ${WORKERS:-1,2,4,8,16} \
    --layouts ${CPU_LAYOUTS:-serial,threads} \
    ${SELF_READ:---no-self-read} > $OUT/bench-$m.txt 2>&1; cat $OUT/bench-$m.txt
done
if python3 -c 'import pyFAI' 2>/dev/null; then
  for m in $METHODS; do
    OMP_NUM_THREADS=16 timeout ${PYFAI_TIMEOUT:-150} python3 bench/pyfai_side_by_side $W1 \
      --poni bench/eiger4m.poni --method $m --workers 16 --frames ${PYFAI_FRAMES:-64} \
      --frames-parallel ${PYFAI_PAR_FRAMES:-800} --seconds ${ROW_SECONDS:-3} --azstream $AZ \
      > $OUT/side-by-side-$m.txt 2>&1
    echo "side by side $m rc=$?"
  done
else
  echo "pyFAI not importable: no side by side"
fi
# The run-to-run spread of the 16-worker rows (the lent host's varies by 10-15 %), both
# feedings, the whole stack each.
for rep in $(seq 1 ${REPEAT16:-3}); do
  for m in $METHODS; do
    $AZ bench $W1 --poni bench/eiger4m.poni --method $m --frames $FRAMES --workers 16 \
      --layouts threads 2>&1 | grep -E '^1 threads|at once' | sed "s/^/run $rep, $m: /" | tee -a $OUT/repeat16.txt
  done
done
echo "== summary"
cat $OUT/repeat16.txt
for m in $METHODS; do
  echo "-- $m"; grep -E '^(engine|0 |1 )|kernel|at once' $OUT/bench-$m.txt; tail -5 $OUT/side-by-side-$m.txt 2>/dev/null
  grep -E 'lz4|decode|fused b(1|4|8)' $OUT/core-$m.txt
done
