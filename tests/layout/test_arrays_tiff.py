"""azs_array_load on TIFF (libtiff) and on silx's "file.h5::/path", against fabio / h5py.
Usage: test_arrays_tiff.py SINK_TOOL   (sink_tool load SPEC prints "ny nx" and the values)"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

tool = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
fails = []


def check(ok, what):
    if not ok:
        fails.append(what)
        print("FAIL:", what)


def load(spec):
    out = subprocess.run([tool, "load", spec], capture_output=True, text=True)
    if out.returncode:
        return None, out.stderr
    check(out.stderr == "", "the library printed nothing: %r" % out.stderr)
    v = out.stdout.split()
    ny, nx = int(v[0]), int(v[1])
    # %.9g gives each float32 back exactly once rounded to float32
    return np.array(v[2:], dtype=np.float64).astype(np.float32).reshape(ny, nx), ""


d = tempfile.mkdtemp()
rng = np.random.default_rng(3)
import fabio
from PIL import Image

# Every sample type fabio reads as a mask / dark / flat, striped and tiled, compressed or not.
for dt in ["u1", "<u2", "<i4", "<f4"]:
    a = (rng.random((13, 17)) * 200 - (50 if dt[1] in "if" else 0)).astype(dt)
    for comp in [None, "tiff_lzw", "tiff_adobe_deflate"]:
        fn = os.path.join(d, "m_%s_%s.tif" % (dt.strip("<"), comp))
        kw = {"compression": comp} if comp else {}
        Image.fromarray(a).save(fn, **kw)
        ref = fabio.open(fn).data
        got, err = load(fn)
        check(got is not None and ref.shape == a.shape and np.array_equal(got, ref.astype(np.float32))
              and np.array_equal(ref, a), "tif %s %s %s" % (dt, comp, err))
# uint32 (PIL cannot write it): a hand-made little-endian baseline TIFF, and a tiled one.
def write_tiff(fn, a, fmt, tiled=False, big=False):
    import struct
    e = ">" if big else "<"
    h, w = a.shape
    data = a.astype(a.dtype.newbyteorder(e)).tobytes()
    tw = th = 16
    if tiled:
        tiles = []
        for y0 in range(0, h, th):
            for x0 in range(0, w, tw):
                t = np.zeros((th, tw), a.dtype)
                blk = a[y0:y0 + th, x0:x0 + tw]
                t[:blk.shape[0], :blk.shape[1]] = blk
                tiles.append(t.astype(a.dtype.newbyteorder(e)).tobytes())
        data = b"".join(tiles)
    off = 8
    ifd_off = off + len(data)
    tags = [(256, 4, w), (257, 4, h), (258, 3, a.dtype.itemsize * 8), (259, 3, 1), (262, 3, 1),
            (277, 3, 1), (339, 3, fmt)]
    if tiled:
        n = len(tiles)
        tags += [(322, 3, tw), (323, 3, th)]
        # offsets / bytecounts arrays after the IFD
        arr_off = ifd_off + 2 + 12 * (len(tags) + 2) + 4
        tags += [(324, 4, ("arr", [off + i * len(tiles[0]) for i in range(n)])),
                 (325, 4, ("arr2", [len(tiles[0])] * n))]
    else:
        tags += [(273, 4, off), (278, 4, h), (279, 4, len(data))]
    tags.sort(key=lambda t: t[0])
    out = (b"MM\x00\x2a" if big else b"II\x2a\x00") + struct.pack(e + "I", ifd_off) + data
    ifd = struct.pack(e + "H", len(tags))
    extra = b""
    extra_off = ifd_off + 2 + 12 * len(tags) + 4
    for tag, typ, val in tags:
        if isinstance(val, tuple):
            vals = val[1]
            ifd += struct.pack(e + "HHII", tag, typ, len(vals), extra_off + len(extra))
            extra += struct.pack(e + "%dI" % len(vals), *vals)
        elif typ == 3:
            ifd += struct.pack(e + "HHIHH", tag, typ, 1, val, 0)
        else:
            ifd += struct.pack(e + "HHII", tag, typ, 1, val)
    out += ifd + struct.pack(e + "I", 0) + extra
    with open(fn, "wb") as f:
        f.write(out)


for dt, fmt in [("u1", 1), ("u2", 1), ("u4", 1), ("i2", 2), ("i4", 2), ("f4", 3)]:
    top = float(np.iinfo(dt).max) if dt[0] != "f" else 1e30
    low = float(np.iinfo(dt).min) if dt[0] != "f" else -1e30
    a = (low + rng.random((37, 21)) * (top - low)).astype(dt)
    if dt == "u4":
        a[0, 0] = 0xFFFFFFFF
    for tiled in (False, True):
        for big in (False, True):
            fn = os.path.join(d, "%s_%d_%d.tif" % (dt, tiled, big))
            write_tiff(fn, np.asarray(a), fmt, tiled, big)
            got, err = load(fn)
            if not tiled:  # fabio's TiffIO reads no tiles; striped ones are the reference
                ref = fabio.open(fn).data
                check(np.array_equal(ref, a), "fabio reads the hand-made %s tiff big=%d" % (dt, big))
            check(got is not None and np.array_equal(got, a.astype(np.float32)),
                  "tif %s tiled=%d big=%d %s" % (dt, tiled, big, err))
# The real Pilatus frame (int32).
real = os.path.join(here, "..", "data", "real", "ssrl_pilatus300k_LaB6", "b_toney_lab6_th3_scan1_0008.tif")
ref = fabio.open(real).data
got, err = load(real)
check(got is not None and got.shape == ref.shape and np.array_equal(got, ref.astype(np.float32)),
      "real Pilatus tif %s vs fabio %s %s" % (None if got is None else got.shape, ref.shape, err))
print("real Pilatus tif:", ref.shape, ref.dtype, "max |diff| vs fabio",
      None if got is None else float(np.abs(got - ref).max()))
# Refusals: truncated, not a TIFF, RGB, missing file; none printing.
raw = open(os.path.join(d, "u4_0_0.tif"), "rb").read()
for name, body in [("trunc.tif", raw[:200]), ("hdr.tif", raw[:6]), ("junk.tif", b"hello world" * 10),
                   ("ifd.tif", raw[:-30])]:
    fn = os.path.join(d, name)
    open(fn, "wb").write(body)
    got, err = load(fn)
    check(got is None and name in err and err.count("\n") == 1, "%s refused in one line: %r" % (name, err))
# A header declaring far more rows than its strips hold (libtiff gives rows of zeros for
# the missing strips): refused before the image is allocated, where it used to load a
# 1,000,000 x 43 image of zeros from 300 bytes.
tall = bytearray(raw)
import struct
n_tags = struct.unpack("<H", raw[8 + 37 * 21 * 4:8 + 37 * 21 * 4 + 2])[0]
for i in range(n_tags):
    at = 8 + 37 * 21 * 4 + 2 + 12 * i
    tag = struct.unpack("<H", raw[at:at + 2])[0]
    if tag in (257, 278):  # ImageLength; RowsPerStrip stays 37: one strip of 37 rows
        tall[at + 8:at + 12] = struct.pack("<I", 1000000 if tag == 257 else 37)
fn = os.path.join(d, "tall.tif")
open(fn, "wb").write(bytes(tall))
got, err = load(fn)
check(got is None and "too short" in err and "tall.tif" in err, "tall header refused: %r" % err)
# The fuzzer's find (1,092 bytes; uncompressed, 43 x 1048575 declared, strip byte counts
# wrong): libtiff read it as 180 MB of zeros in 0.3 s (1.4 s under ASan).
fn = os.path.join(here, "..", "fuzz", "corpus", "tiff", "regress_missing_strips.tif")
got, err = load(fn)
check(got is None and "too short" in err, "fuzzer's missing-strips TIFF refused: %r" % err[:200])
# ... while images that compress extremely well still load (all zeros, 2000 x 2000 float32).
for comp in ["tiff_adobe_deflate", "tiff_lzw", "packbits"]:
    fn = os.path.join(d, "zeros_%s.tif" % comp)
    Image.fromarray(np.zeros((2000, 2000), np.float32)).save(fn, compression=comp)
    got, err = load(fn)
    check(got is not None and got.shape == (2000, 2000) and not got.any(),
          "zeros %s (%d bytes) load: %s" % (comp, os.path.getsize(fn), err))
Image.fromarray(np.zeros((4, 4, 3), np.uint8), mode="RGB").save(os.path.join(d, "rgb.tif"))
got, err = load(os.path.join(d, "rgb.tif"))
check(got is None and "one sample" in err, "rgb refused: " + err)
got, err = load(os.path.join(d, "missing.tif"))
check(got is None and "missing.tif" in err, "missing tif named: " + err)
# silx / pyFAI URL "file.h5::/path" means what "file.h5:/path" does.
with h5py.File(os.path.join(d, "m.h5"), "w") as f:
    f["entry/a"] = rng.random((4, 6))
    f["other/flat"] = rng.random((9, 8))
    ref_flat = f["other/flat"][()]
for spec in ["m.h5::/other/flat", "m.h5:/other/flat", "m.h5::other/flat"]:
    got, err = load(os.path.join(d, spec))
    check(got is not None and np.array_equal(got, ref_flat.astype(np.float32)), spec + " " + err)
got, err = load(os.path.join(d, "m.h5::/nope"))
check(got is None and "nope" in err, "missing dataset named: " + err)
print("arrays tiff tests:", "FAILED %d" % len(fails) if fails else "ok")
sys.exit(1 if fails else 0)
