#!/usr/bin/env bash
# Layout 2 on one GPU against layout 3 (issue 20: "layout 2 with 4 workers sharing one GPU
# >= layout 3 alone on 2,000 frames"): whole `azstream integrate` runs, wall time from the
# command's start to its exit (set-up, the integrator cache's load, every worker's CUDA
# context and matrix upload included), interleaved, RUNS each (a benchmark, not a test).
#   bench/layout2_gpu.sh STACK [FRAMES]      (AZ=azstream binary, PONI=geometry, METHOD)
# The first run fills the integrator cache (its own row, "cold"); the others load it, as
# procs workers do from what the parent wrote.
set -u
STACK=$1; N=${2:-2000}; AZ=${AZ:-build/azstream}; PONI=${PONI:-bench/eiger4m.poni}; M=${METHOD:-bbox}
C=$(mktemp -d /tmp/azs_l2.XXXXXX); trap 'rm -rf "$C"' EXIT
run() { # label, then integrate's layout options
  local label=$1; shift
  local t0=$(date +%s.%N)
  "$AZ" integrate "$STACK" --poni "$PONI" --method "$M" --frames 0:$N --cache-dir "$C/cache" \
    -o "$C/out.h5" --overwrite --log-level error "$@" > "$C/log" 2>&1
  local rc=$? t1=$(date +%s.%N)
  awk -v l="$label" -v rc=$rc -v a=$t0 -v b=$t1 -v n=$N \
    'BEGIN { printf "%-22s rc=%d %8.3f s %9.1f frames/s\n", l, rc, b - a, n / (b - a) }'
  [ $rc = 0 ] || tail -3 "$C/log"
}
mkdir -p "$C/cache"
run "gpu (cache cold)" --layout gpu
for r in $(seq 1 ${RUNS:-3}); do
  run "gpu" --layout gpu
  for k in ${PER_GPU:-1 2 4}; do run "procs gpu per-gpu $k" --layout procs --inner gpu --gpus 0 --per-gpu $k; done
done
