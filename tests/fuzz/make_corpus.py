"""Writes the seed corpus of the codec fuzz harnesses (run once; the files are
committed). Valid chunks come from the reference plugins (h5py + hdf5plugin); broken
ones are cut or patched copies. Input layout: byte 0 selects the element size (bslz4:
1,2,4,8,3,10 by value % 6) or the codec (lz4: even = LZ4, odd = uncompressed), then the
chunk."""
import os
import sys
import tempfile

import h5py
import hdf5plugin
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def chunk(arr, flt):
    with tempfile.TemporaryDirectory() as td:
        fn = os.path.join(td, "c.h5")
        with h5py.File(fn, "w") as f:
            f.create_dataset("d", data=arr, chunks=arr.shape, **flt)
        with h5py.File(fn, "r") as f:
            return bytes(f["d"].id.read_direct_chunk((0,) * arr.ndim)[1])


def write(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    rng = np.random.default_rng(7)
    sel = {1: 0, 2: 1, 4: 2, 8: 3}
    for dt, n, block in ((np.uint8, 100, 0), (np.uint16, 203, 64), (np.uint32, 1000, 0),
                         (np.uint32, 700, 64), (np.uint64, 77, 8), (np.uint16, 5, 0)):
        a = rng.poisson(2.0, n).astype(dt)
        c = chunk(a, hdf5plugin.Bitshuffle(nelems=block, cname="lz4"))
        s = np.dtype(dt).itemsize
        tag = f"{np.dtype(dt).name}_n{n}_b{block}"
        write("bslz4", f"ok_{tag}", bytes([sel[s]]) + c)
        if n > 8:
            write("bslz4", f"bad_cut_{tag}", bytes([sel[s]]) + c[: len(c) * 2 // 3])
            bad = bytearray(c)
            bad[12:16] = (0xFFFFFF00).to_bytes(4, "big")  # first block length points outside
            write("bslz4", f"bad_len_{tag}", bytes([sel[s]]) + bytes(bad))
    bad = bytearray(chunk(np.arange(64, dtype=np.uint32), hdf5plugin.Bitshuffle(cname="lz4")))
    bad[8:12] = b"\0\0\0\0"
    write("bslz4", "bad_zero_block", b"\x02" + bytes(bad))
    bad[0:8] = (1 << 40).to_bytes(8, "big")
    write("bslz4", "bad_huge_total", b"\x02" + bytes(bad))
    # headers the chunk cannot hold (issue 16: "header says N bytes, chunk holds M"): a huge
    # total with a valid block size, and blocks far smaller than the chunk's
    good = chunk(rng.poisson(2.0, 1000).astype(np.uint32), hdf5plugin.Bitshuffle(nelems=64, cname="lz4"))
    bad = bytearray(good)
    bad[0:8] = (1 << 40).to_bytes(8, "big")
    write("bslz4", "bad_lying_total", b"\x02" + bytes(bad))
    bad = bytearray(good)
    bad[8:12] = (32).to_bytes(4, "big")
    write("bslz4", "bad_lying_blocks", b"\x02" + bytes(bad))
    write("bslz4", "garbage", bytes(rng.integers(0, 256, 64, dtype=np.uint8)))

    for dt, n, nbytes in ((np.uint16, 300, 0), (np.uint8, 200, 64), (np.uint32, 500, 256)):
        a = rng.poisson(2.0, n).astype(dt)
        if dt == np.uint8:
            a = rng.integers(0, 256, n, dtype=np.uint8)  # incompressible: raw blocks
        c = chunk(a, hdf5plugin.LZ4(nbytes=nbytes))
        tag = f"{np.dtype(dt).name}_n{n}_b{nbytes}"
        write("lz4", f"ok_{tag}", b"\x00" + c)
        write("lz4", f"bad_cut_{tag}", b"\x00" + c[: len(c) // 2])
    write("lz4", "ok_none", b"\x01" + bytes(range(40)))
    write("lz4", "garbage", b"\x00" + bytes(rng.integers(0, 256, 64, dtype=np.uint8)))


if __name__ == "__main__":
    sys.exit(main())
