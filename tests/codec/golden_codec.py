"""Codec against the reference implementation (h5py + hdf5plugin, bitshuffle).

--part reference: arrays of element size 1, 2, 4, 8 (random and detector-like), several
    block sizes, lengths with a partial block and a raw tail. Chunks written by the
    reference plugins (h5py write -> read_direct_chunk) are decoded by ours; chunks encoded
    by ours are stored with write_direct_chunk and read back through the reference
    plugins (and bitshuffle.decompress_lz4). Same for LZ4 (32004).
--part real: every chunk of the compressed datasets in tests/data/real (bitshuffle
    regression files, the real Eiger 4M frame, the Dectris files) decoded by ours and
    compared with what h5py + hdf5plugin read.

Exit 0 pass, 1 fail, 77 skip (python packages or data missing)."""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import h5py
    import hdf5plugin
    import bitshuffle
except ImportError as e:  # pragma: no cover
    print("skip: missing python package:", e)
    sys.exit(77)

BSLZ4, LZ4, NONE = 32008, 32004, 0


class Cases:
    def __init__(self, d):
        self.d = d
        self.lines = []
        self.expect = {}   # name -> expected bytes (from the reference)
        self.meta = {}

    def add(self, name, codec, s, block_elems, expected, chunk=None, encode=False, **meta):
        name = name.replace("/", "_").replace("|", "S").replace(" ", "_")
        if chunk is not None:
            with open(os.path.join(self.d, name + ".chunk"), "wb") as f:
                f.write(chunk)
        if encode:
            with open(os.path.join(self.d, name + ".raw"), "wb") as f:
                f.write(expected)
        self.lines.append(f"{name} {codec} {s} {block_elems} {len(expected)} {int(encode)}")
        self.expect[name] = expected
        self.meta[name] = dict(codec=codec, s=s, block=block_elems, has_chunk=chunk is not None,
                               encode=encode, **meta)
        return name

    def run(self, tool):
        with open(os.path.join(self.d, "manifest.txt"), "w") as f:
            f.write("\n".join(self.lines) + "\n")
        r = subprocess.run([tool, self.d], capture_output=True, text=True)
        print(r.stdout.strip(), r.stderr.strip())
        return r.returncode

    def read(self, name, ext):
        p = os.path.join(self.d, name + ext)
        if not os.path.exists(p):
            return None
        with open(p, "rb") as f:
            return f.read()


def ref_chunk(arr, codec, block):
    """A chunk made by the reference plugin: write with h5py + hdf5plugin, read raw."""
    with tempfile.TemporaryDirectory() as td:
        fn = os.path.join(td, "r.h5")
        with h5py.File(fn, "w") as f:
            if codec == BSLZ4:
                flt = hdf5plugin.Bitshuffle(nelems=block, cname="lz4")
            else:
                flt = hdf5plugin.LZ4(nbytes=block * arr.dtype.itemsize)
            f.create_dataset("d", data=arr, chunks=arr.shape, **flt)
        with h5py.File(fn, "r") as f:
            mask, chunk = f["d"].id.read_direct_chunk((0,) * arr.ndim)
            assert mask == 0
            return bytes(chunk)


def ref_read_encoded(enc, arr, codec, block):
    """Store our chunk with write_direct_chunk and read it back through the plugin."""
    with tempfile.TemporaryDirectory() as td:
        fn = os.path.join(td, "o.h5")
        s = arr.dtype.itemsize
        opts = (0, 2, s, block, 2) if codec == BSLZ4 else (block * s,)
        with h5py.File(fn, "w") as f:
            d = f.create_dataset("d", shape=arr.shape, dtype=arr.dtype, chunks=arr.shape,
                                 compression=codec, compression_opts=opts)
            d.id.write_direct_chunk((0,) * arr.ndim, enc, 0)
        with h5py.File(fn, "r") as f:
            return f["d"][...]


def make_array(rng, dt, n, kind):
    if kind == "random":
        return rng.integers(0, np.iinfo(dt).max, size=n, dtype=dt, endpoint=True)
    # detector-like: Poisson counts with a few saturated pixels
    a = rng.poisson(3.0, size=n).astype(dt)
    a[rng.random(n) < 0.001] = np.iinfo(dt).max
    return a


def part_reference(cases):
    rng = np.random.default_rng(12345)
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        s = np.dtype(dt).itemsize
        for block in (0, 64, 256, 2048):
            for n in (5, 8, 1000, 8192 + 13, 50003):
                for kind in ("random", "poisson"):
                    if kind == "random" and n > 10000 and block != 0:
                        continue
                    arr = make_array(rng, dt, n, kind)
                    name = f"bs_{np.dtype(dt).name}_b{block}_n{n}_{kind}"
                    cases.add(name, BSLZ4, s, block, arr.tobytes(), ref_chunk(arr, BSLZ4, block),
                              encode=True, arr=arr)
        for block in (0, 1000, 4096):  # LZ4 block size in elements (x s bytes)
            for n in (5, 1000, 50003):
                for kind in ("random", "poisson"):
                    arr = make_array(rng, dt, n, kind)
                    name = f"lz4_{np.dtype(dt).name}_b{block}_n{n}_{kind}"
                    cases.add(name, LZ4, s, block, arr.tobytes(), ref_chunk(arr, LZ4, block),
                              encode=True, arr=arr)


def filter_of(d):
    pl = d.id.get_create_plist()
    for i in range(pl.get_nfilters()):
        fid, _flags, vals, _name = pl.get_filter(i)
        if fid in (BSLZ4, LZ4):
            return fid, tuple(vals)
    return NONE, ()


def part_real(cases, data):
    real = os.path.join(data, "real")
    files = sorted(glob.glob(os.path.join(real, "bitshuffle", "*.h5")))
    files.append(os.path.join(real, "eiger4m_real_frame_bslz4.h5"))
    files += sorted(glob.glob(os.path.join(real, "dectris", "**", "*.h5"), recursive=True))
    if not all(os.path.exists(f) for f in files) or len(files) < 10:
        print("skip: real data not found under", real)
        sys.exit(77)
    skipped = []
    for fn in files:
        with h5py.File(fn, "r") as f:
            dsets = []
            f.visititems(lambda n, o: dsets.append(n) if isinstance(o, h5py.Dataset) else None)
            for dn in dsets:
                d = f[dn]
                if d.chunks is None:
                    continue
                codec, vals = filter_of(d)
                if codec == NONE:
                    continue
                if codec == BSLZ4 and len(vals) >= 5 and vals[4] != 2:
                    skipped.append(f"{os.path.basename(fn)}:{dn} (bitshuffle compression {vals[4]}, not LZ4)")
                    continue
                full = d[...]  # the reference read: HDF5 + hdf5plugin
                s = d.dtype.itemsize
                # every chunk (at most 40 per dataset: the paged test sets have 5000)
                nchunks = d.id.get_num_chunks()
                for ci in range(min(nchunks, 40)):
                    info = d.id.get_chunk_info(ci)
                    mask, raw = d.id.read_direct_chunk(info.chunk_offset)
                    sl = tuple(slice(o, min(o + c, n)) for o, c, n in zip(info.chunk_offset, d.chunks, d.shape))
                    exp = np.zeros(d.chunks, dtype=d.dtype)
                    exp[tuple(slice(0, x.stop - x.start) for x in sl)] = full[sl]
                    cd = NONE if mask & 1 else codec
                    tag = os.path.relpath(fn, real).replace(os.sep, "_")
                    cases.add(f"real_{tag}_{dn}_c{ci}", cd, s, 0, exp.tobytes(), bytes(raw),
                              file=fn, dataset=dn, offset=info.chunk_offset)
    for x in skipped:
        print("not tested:", x)


def check(cases, part):
    fails = 0
    n_dec = n_enc = 0
    for name, m in cases.meta.items():
        exp = cases.expect[name]
        if m["has_chunk"]:
            got = cases.read(name, ".dec")
            if got is None:
                print("FAIL decode", name, (cases.read(name, ".err") or b"").decode().strip())
                fails += 1
            elif got != exp:
                a = np.frombuffer(got, np.uint8)
                b = np.frombuffer(exp, np.uint8)
                print("FAIL decode differs", name, "first byte", int(np.argmax(a != b)))
                fails += 1
            n_dec += 1
        if m["encode"]:
            enc = cases.read(name, ".enc")
            arr = m["arr"]
            if enc is None:
                print("FAIL encode", name)
                fails += 1
                continue
            back = ref_read_encoded(enc, arr, m["codec"], m["block"])
            if not np.array_equal(back, arr):
                print("FAIL reference plugin reads our chunk differently:", name)
                fails += 1
            if m["codec"] == BSLZ4:
                s = m["s"]
                hdr_block = int.from_bytes(enc[8:12], "big") // s
                ref = bitshuffle.decompress_lz4(np.frombuffer(enc[12:], np.uint8), arr.shape,
                                                arr.dtype, hdr_block)
                if not np.array_equal(ref, arr):
                    print("FAIL bitshuffle.decompress_lz4 reads our chunk differently:", name)
                    fails += 1
                omp = cases.read(name, ".omp")
                if omp != exp:
                    print("FAIL OpenMP decode differs:", name)
                    fails += 1
            n_enc += 1
    if part == "real":
        # the real Eiger frame: a known pixel, read independently by the reference
        for name, m in cases.meta.items():
            if "eiger4m_real_frame" in name:
                got = np.frombuffer(cases.read(name, ".dec") or b"\0" * 4 * 2167 * 2070, np.uint32)
                v = int(got.reshape(2167, 2070)[1372, 613])
                print("eiger4m pixel [0,1372,613] =", v)
                if v != 922:
                    fails += 1
    print(f"{part}: {n_dec} decoded chunks, {n_enc} encoded chunks checked, {fails} failures")
    return fails


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--part", choices=("reference", "real"), required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="azs_codec_") as td:
        cases = Cases(td)
        if a.part == "reference":
            part_reference(cases)
        else:
            part_real(cases, a.data)
        if cases.run(a.tool) != 0:
            return 1
        return 1 if check(cases, a.part) else 0


if __name__ == "__main__":
    sys.exit(main())
