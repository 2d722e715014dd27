#!/usr/bin/env python3
"""A sample Eiger2 4M stack for the demo: powder rings (radius in pixels from the beam
centre of bench/eiger4m.poni), Poisson noise, module gaps = 0xFFFFFFFF, one frame per
chunk, bitshuffle-LZ4 through hdf5plugin. usage: make_sample_stack.py OUT.h5 [NFRAMES]"""
import sys
import numpy as np
import h5py, hdf5plugin

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
ny, nx = 2162, 2068
y, x = np.mgrid[0:ny, 0:nx].astype(np.float32)
r = np.hypot(y - 1083.6, x - 1025.9)
rings = np.zeros_like(r)
for k, rad in enumerate([180, 260, 330, 470, 520, 640, 700, 810, 930]):
    rings += (400 / (1 + k)) * np.exp(-((r - rad) ** 2) / 8.0)
base = 8 + 40 * np.exp(-r / 500) + rings
gap = np.zeros((ny, nx), bool)
for g in range(1, 4):  # approximate module gaps (the demo only needs some dummy pixels)
    gap[g * 550 - 38:g * 550, :] = True
gap[:, 1028:1040] = True
rng = np.random.default_rng(0)
with h5py.File(out, "w") as f:
    d = f.create_dataset("entry/data/data", (n, ny, nx), np.uint32, chunks=(1, ny, nx),
                         **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
    for i in range(n):
        fr = rng.poisson(base * (1 + 0.02 * i)).astype(np.uint32)
        fr[gap] = 0xFFFFFFFF
        d[i] = fr
print("wrote %s: %d frames %dx%d uint32, bitshuffle-LZ4" % (out, n, ny, nx))
