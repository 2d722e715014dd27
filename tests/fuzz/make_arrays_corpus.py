"""Writes the seed corpus of the array-loader fuzz harnesses (fuzz_npy, fuzz_edf,
fuzz_tiff: tests/fuzz/fuzz_arrays.c); run once, the files are committed. Small valid
files of each kind written by numpy, fabio and PIL (the readers pyFAI uses), plus
hand-made TIFFs of what PIL does not write (uint32, tiled, big-endian)."""
import io
import os
import struct

import numpy as np
import fabio
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
C = os.path.join(HERE, "corpus")
rng = np.random.default_rng(5)


def put(kind, name, data):
    with open(os.path.join(C, kind, name), "wb") as f:
        f.write(data)


def npy(a, version=None):
    b = io.BytesIO()
    if version:
        np.lib.format.write_array(b, a, version=version)
    else:
        np.save(b, a)
    return b.getvalue()


# .npy: dtypes, endianness, 3D (frames), format versions 1.0, 2.0, 3.0
for dt in ["u1", "<i2", ">i2", "<u4", ">f4", "<f8", "<i8", "?"]:
    a = (rng.random((4, 5)) * 100).astype(dt)
    put("npy", "ok_%s_4x5.npy" % dt.replace("<", "le").replace(">", "be").replace("?", "bool"), npy(a))
put("npy", "ok_f4_3frames.npy", npy(rng.random((3, 2, 3)).astype("<f4")))
put("npy", "ok_v2_u2.npy", npy(np.arange(6, dtype="<u2").reshape(2, 3), (2, 0)))
put("npy", "ok_v3_u1.npy", npy(np.arange(6, dtype="u1").reshape(3, 2), (3, 0)))
put("npy", "bad_fortran.npy", npy(np.asfortranarray(np.arange(6, dtype="u1").reshape(2, 3))))
put("npy", "bad_1d.npy", npy(np.arange(6, dtype="u1")))
put("npy", "bad_cut.npy", npy(np.arange(20, dtype="<f4").reshape(4, 5))[:-7])


tmp = os.path.join(C, "edf", ".tmp.edf")
for dt in ["uint8", "int16", "uint16", "int32", "uint32", "float32", "float64"]:
    a = (rng.random((3, 4)) * 100).astype(dt)
    fabio.edfimage.EdfImage(data=a).write(tmp)
    with open(tmp, "rb") as f:
        put("edf", "ok_%s_3x4.edf" % dt, f.read())
# two frames: fabio writes one; frames are header + data blocks one after the other
with open(os.path.join(C, "edf", "ok_uint16_3x4.edf"), "rb") as f:
    one = f.read()
put("edf", "ok_2frames.edf", one + one)
# big-endian data, as the header says
a = np.arange(12, dtype=">u2").reshape(3, 4)
hdr = ("{\nHeaderID = EH:000001:000000:000000 ;\nImage = 1 ;\nByteOrder = HighByteFirst ;\n"
       "DataType = UnsignedShort ;\nDim_1 = 4 ;\nDim_2 = 3 ;\nSize = 24 ;\n")
hdr = hdr + " " * (510 - len(hdr)) + "}\n"
put("edf", "ok_highbytefirst.edf", hdr.encode() + a.tobytes())
put("edf", "bad_cut.edf", one[:-5])
os.remove(tmp)


# TIFF: PIL's grey modes, compressed, and hand-made ones
for mode, dt in [("L", "u1"), ("I;16", "<u2"), ("I", "<i4"), ("F", "<f4")]:
    a = (rng.random((5, 7)) * 200).astype(dt)
    for comp in [None, "tiff_lzw", "tiff_adobe_deflate", "packbits"]:
        b = io.BytesIO()
        try:
            Image.fromarray(a, mode=mode if mode != "I" else None).save(b, format="TIFF", compression=comp)
        except (OSError, ValueError, TypeError):
            continue
        put("tiff", "ok_%s_%s.tif" % (dt.strip("<"), comp or "raw"), b.getvalue())


def hand_tiff(a, fmt, tiled=False, big=False):
    e = ">" if big else "<"
    h, w = a.shape
    tw = th = 16
    tiles = []
    if tiled:
        for y0 in range(0, h, th):
            for x0 in range(0, w, tw):
                t = np.zeros((th, tw), a.dtype)
                blk = a[y0:y0 + th, x0:x0 + tw]
                t[:blk.shape[0], :blk.shape[1]] = blk
                tiles.append(t.astype(a.dtype.newbyteorder(e)).tobytes())
        data = b"".join(tiles)
    else:
        data = a.astype(a.dtype.newbyteorder(e)).tobytes()
    off, ifd_off = 8, 8 + len(data)
    tags = [(256, 4, w), (257, 4, h), (258, 3, a.dtype.itemsize * 8), (259, 3, 1), (262, 3, 1),
            (277, 3, 1), (339, 3, fmt)]
    if tiled:
        n = len(tiles)
        tags += [(322, 3, tw), (323, 3, th), (324, 4, [off + i * len(tiles[0]) for i in range(n)]),
                 (325, 4, [len(tiles[0])] * n)]
    else:
        tags += [(273, 4, off), (278, 4, h), (279, 4, len(data))]
    tags.sort(key=lambda t: t[0])
    out = (b"MM\x00\x2a" if big else b"II\x2a\x00") + struct.pack(e + "I", ifd_off) + data
    ifd, extra = struct.pack(e + "H", len(tags)), b""
    extra_off = ifd_off + 2 + 12 * len(tags) + 4
    for tag, typ, val in tags:
        if isinstance(val, list):
            if len(val) == 1:
                ifd += struct.pack(e + "HHII", tag, typ, 1, val[0])
            else:
                ifd += struct.pack(e + "HHII", tag, typ, len(val), extra_off + len(extra))
                extra += struct.pack(e + "%dI" % len(val), *val)
        elif typ == 3:
            ifd += struct.pack(e + "HHIHH", tag, typ, 1, val, 0)
        else:
            ifd += struct.pack(e + "HHII", tag, typ, 1, val)
    return out + ifd + struct.pack(e + "I", 0) + extra


a = (rng.random((5, 6)) * 4e9).astype("<u4")
put("tiff", "hand_u4.tif", hand_tiff(a, 1))
put("tiff", "hand_u2.tif", hand_tiff((rng.random((4, 3)) * 6e4).astype("<u2"), 1))
put("tiff", "hand_u4_be.tif", hand_tiff(a, 1, big=True))
put("tiff", "hand_i2_tiled.tif", hand_tiff((rng.random((20, 18)) * 100).astype("<i2"), 2, tiled=True))
put("tiff", "hand_f8.tif", hand_tiff(rng.random((3, 4)), 3))
