"""GPU decoder against the CPU decoder on every compressed chunk of the real files.

Walks DIR/real, tests/data/real (the bitshuffle regression files, the real Eiger 4M frame, the
Dectris and arina files; everything h5py can open), takes each chunk of every dataset with
filter 32008 (LZ4 inside) or 32004 as stored (read_direct_chunk: no HDF5 filter is
needed here, so h5py alone suffices) and hands them to gpu_real_tool, which decodes each
with our CPU decoder (itself checked against h5py + hdf5plugin by codec.real) and on the
GPU, and compares the bytes.

usage: gpu_real_files.py --tool gpu_real_tool --data DIR [--cpu-only]
--cpu-only: the tool plans every chunk for the GPU and decodes it on the CPU (CI, no GPU).
Exit 0 pass, 1 fail, 77 skip (no h5py, no data, or no GPU without --cpu-only)."""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import h5py
except ImportError as e:  # pragma: no cover
    print("skip: missing python package:", e)
    sys.exit(77)

BSLZ4, LZ4, NONE = 32008, 32004, 0
PER_DATASET = 40  # chunks per dataset at most (the paged test sets have thousands)


def codec_of(d):
    plist = d.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        fid, _, vals, _ = plist.get_filter(i)
        if fid == BSLZ4:
            return (BSLZ4 if len(vals) < 5 or vals[4] == 2 else None), vals
        if fid == LZ4:
            return LZ4, vals
    return NONE, ()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--cpu-only", action="store_true")
    a = ap.parse_args()
    real = os.path.join(a.data, "real")
    files = sorted(glob.glob(os.path.join(real, "**", "*.h5"), recursive=True))
    if len(files) < 10:
        print("skip: real data not found under", real)
        return 77
    lines, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="azs_gpu_real_") as td:
        for fn in files:
            try:
                f = h5py.File(fn, "r")
            except OSError as e:
                skipped.append(f"{os.path.relpath(fn, real)} (h5py cannot open it: {e})")
                continue
            with f:
                names = []
                f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
                for dn in names:
                    d = f[dn]
                    if d.chunks is None:
                        continue
                    codec, vals = codec_of(d)
                    if codec == NONE:
                        continue
                    if codec is None:
                        skipped.append(f"{os.path.relpath(fn, real)}:{dn} (bitshuffle without LZ4: {vals})")
                        continue
                    s = d.dtype.itemsize
                    nbytes = int(np.prod(d.chunks)) * s
                    for ci in range(min(d.id.get_num_chunks(), PER_DATASET)):
                        info = d.id.get_chunk_info(ci)
                        mask, raw = d.id.read_direct_chunk(info.chunk_offset)
                        name = "c%05d" % len(lines)
                        with open(os.path.join(td, name + ".chunk"), "wb") as out:
                            out.write(raw)
                        tag = f"{os.path.relpath(fn, real)}:{dn}@{info.chunk_offset}"
                        lines.append(f"{name} {NONE if mask & 1 else codec} {s} {nbytes} {tag}")
        with open(os.path.join(td, "manifest.txt"), "w") as m:
            m.write("\n".join(lines) + "\n")
        for x in skipped:
            print("not tested:", x)
        cmd = [a.tool, td] + (["--cpu-only"] if a.cpu_only else [])
        r = subprocess.run(cmd, capture_output=True, text=True)
        print(r.stdout.strip())
        if r.stderr.strip():
            print(r.stderr.strip(), file=sys.stderr)
        return r.returncode


if __name__ == "__main__":
    sys.exit(main())
