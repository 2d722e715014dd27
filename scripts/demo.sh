#!/usr/bin/env bash
# make demo: a sample Eiger2 4M stack (50 frames) integrated with layout 1, then a short
# benchmark table. Needs only the repository (bench/eiger4m.poni, our made-up geometry)
# and the .venv that `make deps` prepares (h5py reads the result back for the summary).
set -euo pipefail
build=${1:-build}
az=$build/azstream
py=.venv/bin/python
mkdir -p out
stack=out/demo_eiger2_4m.h5
poni=bench/eiger4m.poni
nframes=${DEMO_FRAMES:-50}
echo "== 1. sample stack: $nframes frames of an Eiger2 4M (2162x2068 uint32, bitshuffle-LZ4)"
if [ ! -s "$stack" ]; then
    $az synth -o "$stack" --poni "$poni" --frames "$nframes" || $py bench/make_sample_stack.py "$stack" "$nframes"
else
    echo "   (reusing $stack)"
fi
$az info "$stack" 2>/dev/null | head -12 || true
echo
echo "== 2. integrate: 1000 bins in q_nm^-1, bbox splitting, solid angle, polarization 0.99,"
echo "      gaps (0xFFFFFFFF) as dummy; layout 1 (threads) on all cores -> out/demo.h5"
# --overwrite: the demo's own output, from an earlier `make demo` (azstream refuses to
# replace an existing output otherwise)
$az integrate "$stack" --poni "$poni" --npt 1000 --method bbox --polarization 0.99 \
    --dummy 4294967295 --layout threads --overwrite -o out/demo.h5
$py - <<'PY'
import h5py
with h5py.File("out/demo.h5", "r") as f:
    r = f["entry/result"]
    print("   out/demo.h5: /entry/result/I", r["I"].shape, r["I"].dtype,
          "| radial", r["radial_axis"].shape, r["radial_axis"].attrs["pyfai_unit"],
          "| frames_written", int(r.attrs["frames_written"]))
    I = r["I"][0]
    k = int(I.argmax())
    print("   frame 0: strongest ring at q = %.3f nm^-1 (I = %.1f)" % (r["radial_axis"][k], I[k]))
PY
echo
echo "== 3. benchmark (azstream bench, null sink)"
$az bench "$stack" --poni "$poni" --frames "$nframes" --read map
echo "(layout 2 rows: each worker process builds its own matrix, which dominates a"
echo " ${nframes}-frame run; layout 2 is for isolation and GPU sharing, layout 1 for cores.)"
