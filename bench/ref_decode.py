"""Reference side of `azstream bench-decode`: the bitshuffle library's own decompressor
(bitshuffle.decompress_lz4, the code behind the HDF5 filter 32008), one thread, on the
raw chunks of the same frames (read with h5py read_direct_chunk, outside the timing).

Prints one JSON line: decode_gbps (decoded bytes / best wall time over the repeats, all
frames; *_cpu: the same over the thread's CPU time, steadier on a shared machine),
unshuffle_gbps (bitshuffle.bitunshuffle of one frame, block by block as the
decoder does it), and what was measured. Run with OMP_NUM_THREADS=1 (the caller sets it)."""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import h5py  # noqa: E402
import hdf5plugin  # noqa: E402,F401
import bitshuffle  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--dataset", default="/entry/data/data")
    ap.add_argument("--frames", default="0:")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    out = {"lib": "bitshuffle " + bitshuffle.__version__,
           "simd": "AVX512" if bitshuffle.using_AVX512() else "AVX2" if bitshuffle.using_AVX2()
           else "SSE2" if bitshuffle.using_SSE2() else "scalar"}
    with h5py.File(a.file, "r") as f:
        d = f[a.dataset]
        lo, _, hi = a.frames.partition(":")
        lo = int(lo or 0)
        hi = int(hi) if hi else (lo + 1 if ":" not in a.frames else d.shape[0])
        hi = min(hi, d.shape[0])
        if d.chunks is None or d.chunks[0] != 1 or tuple(d.chunks[1:]) != tuple(d.shape[1:]):
            out["error"] = "not one frame per chunk"
            print(json.dumps(out))
            return 0
        pl = d.id.get_create_plist()
        fids = [pl.get_filter(i)[0] for i in range(pl.get_nfilters())]
        if 32008 not in fids:
            out["error"] = "reference timing only for bitshuffle-lz4 (32008)"
            print(json.dumps(out))
            return 0
        chunks = []
        for i in range(lo, hi):
            mask, raw = d.id.read_direct_chunk((i,) + (0,) * (d.ndim - 1))
            chunks.append(np.frombuffer(raw, np.uint8))
        shape, dtype = d.shape[1:], d.dtype
    block = int.from_bytes(chunks[0][8:12].tobytes(), "big") // dtype.itemsize
    frame_bytes = int(np.prod(shape)) * dtype.itemsize
    best = best_cpu = float("inf")
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.thread_time()
        for c in chunks:
            bitshuffle.decompress_lz4(c[12:], shape, dtype, block)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.thread_time() - c0)
    out["decode_gbps"] = len(chunks) * frame_bytes / best / 1e9
    out["decode_gbps_cpu"] = len(chunks) * frame_bytes / best_cpu / 1e9
    frame = bitshuffle.decompress_lz4(chunks[0][12:], shape, dtype, block).ravel()
    shuffled = bitshuffle.bitshuffle(frame, block)
    best_u = best_ucpu = float("inf")
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.thread_time()
        bitshuffle.bitunshuffle(shuffled, block)
        best_u = min(best_u, time.perf_counter() - t0)
        best_ucpu = min(best_ucpu, time.thread_time() - c0)
    out["unshuffle_gbps"] = frame_bytes / best_u / 1e9
    out["unshuffle_gbps_cpu"] = frame_bytes / best_ucpu / 1e9
    out.update(frames=len(chunks), frame_bytes=frame_bytes, block_elems=block)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
