"""Golden test of the HDF5 source against h5py (+ hdf5plugin for decoded pixels).

For every case, tests/io/io_dump (our C source) dumps its info, the raw chunk of every
frame and the decoded frames; h5py, reading the same files independently (following the
links itself), gives the reference: read_direct_chunk bytes and the arrays decoded by the
reference plugins. Usage: check_source.py IO_DUMP DATA_DIR WORK_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import hdf5plugin
import numpy as np

dump, data, work = sys.argv[1], sys.argv[2], sys.argv[3]
real = os.path.join(data, "real")
os.makedirs(work, exist_ok=True)
failures = []


def fail(case, msg):
    failures.append(f"{case}: {msg}")
    print(f"FAIL {case}: {msg}", flush=True)


def make_local_files():
    """Layouts the real files lack, written by h5py (+ hdf5plugin) into WORK_DIR."""
    e2 = os.path.join(real, "dectris/datasets_eiger2")
    s1 = os.path.join(e2, "eiger2_simread7_2datafiles_4images_bslz4_uint32_data_000001.h5")
    s2 = os.path.join(e2, "eiger2_simread7_2datafiles_4images_bslz4_uint32_data_000002.h5")
    vds = os.path.join(work, "vds_simple.h5")
    with h5py.File(vds, "w") as f:
        lay = h5py.VirtualLayout(shape=(4, 512, 1028), dtype="uint32")
        lay[0:2] = h5py.VirtualSource(s1, "/entry/data/data", shape=(2, 512, 1028))
        lay[2:4] = h5py.VirtualSource(s2, "/entry/data/data", shape=(2, 512, 1028))
        f.create_virtual_dataset("/entry/data/data", lay)
    # frames 1.. of the source mapped to 0..: a source offset
    with h5py.File(os.path.join(work, "vds_offset.h5"), "w") as f:
        lay = h5py.VirtualLayout(shape=(1, 512, 1028), dtype="uint32")
        lay[0:1] = h5py.VirtualSource(s2, "/entry/data/data", shape=(2, 512, 1028))[1:2]
        f.create_virtual_dataset("data", lay)
    # interleaved frames: not a simple mapping, read through H5Dread (uncompressed source)
    plain = os.path.join(real, "dectris/datasets_different_h5ver/dataset_v112.h5")
    with h5py.File(os.path.join(work, "vds_strided.h5"), "w") as f:
        lay = h5py.VirtualLayout(shape=(2, 10, 10), dtype="uint32")
        lay[0:2] = h5py.VirtualSource(plain, "/data/chunked", shape=(3, 10, 10))[0:3:2]
        f.create_virtual_dataset("data", lay)
    rng = np.random.default_rng(1)
    a = rng.poisson(3, size=(5, 70, 90)).astype(np.uint32)
    a[:, 10, :] = 0xFFFFFFFF
    with h5py.File(os.path.join(work, "layouts.h5"), "w") as f:
        f.create_dataset("tiled_bslz4", data=a, chunks=(1, 32, 40),
                         **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
        f.create_dataset("multi_bslz4", data=a, chunks=(2, 70, 90),
                         **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
        f.create_dataset("tiled_lz4", data=a.astype(np.uint16), chunks=(3, 16, 90),
                         **hdf5plugin.LZ4())
        f.create_dataset("gzip", data=a, chunks=(1, 70, 90), compression="gzip")
        f.create_dataset("plain2d", data=a[0].astype(np.int16))
        f.create_dataset("chunked2d_bslz4", data=a[1], chunks=(70, 90),
                         **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
        f.create_dataset("float64", data=a.astype(np.float64), chunks=(1, 70, 90),
                         **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
        d = f.create_dataset("masked", shape=(3, 70, 90), dtype=np.uint32, chunks=(1, 70, 90),
                             **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
        d[0] = a[0]
        d[2] = a[2]
        # frame 1 stored raw with the filter marked as skipped (filter mask bit 0)
        d.id.write_direct_chunk((1, 0, 0), a[1].tobytes(), filter_mask=1)
        f.create_dataset("partial", shape=(3, 70, 90), dtype=np.uint32, chunks=(1, 70, 90),
                         **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))[0] = a[0]
    return a


a_local = make_local_files()


def h5_parts(spec):
    """spec: list of (file, dataset path[, first, n]) as h5py sees them."""
    out = []
    for s in spec:
        f = h5py.File(s[0], "r")
        d = f[s[1]]
        first = s[2] if len(s) > 2 else 0
        n = s[3] if len(s) > 3 else (d.shape[0] if d.ndim == 3 else 1)
        out.append((f, d, first, n))
    return out


def check(case, path, dataset, spec, expect_path=None, expect_raw=True):
    out = tempfile.mkdtemp(dir=work)
    cmd = [dump, path, dataset or "-", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail(case, f"io_dump exit {r.returncode}: {r.stderr.strip()}")
        return
    info = {}
    parts = []
    raw_err = {}
    frame_err = None
    for line in open(os.path.join(out, "info.txt")):
        k, _, v = line.rstrip("\n").partition(" ")
        if k == "part":
            parts.append(v)
        elif k == "raw_error":
            i, _, msg = v.partition(" ")
            raw_err[int(i)] = msg
        elif k == "frame_error":
            frame_err = v
        else:
            info[k] = v
    ref = h5_parts(spec)
    rawidx = {}
    if os.path.exists(os.path.join(out, "raw.idx")):
        for line in open(os.path.join(out, "raw.idx")):
            i, o, n_ = map(int, line.split())
            rawidx[i] = (o, n_)
        rawdata = open(os.path.join(out, "raw.bin"), "rb").read()
    nframes = sum(p[3] for p in ref)
    d0 = ref[0][1]
    if int(info["nframes"]) != nframes:
        fail(case, f"nframes {info['nframes']} != {nframes}")
        return
    if (int(info["ny"]), int(info["nx"])) != d0.shape[-2:]:
        fail(case, f"shape {info['ny']}x{info['nx']} != {d0.shape[-2:]}")
    if info["dtype"] != str(d0.dtype):
        fail(case, f"dtype {info['dtype']} != {d0.dtype}")
    if expect_path is not None and int(info["read_path"]) != expect_path:
        fail(case, f"read path {info['read_path']} != {expect_path}")
    if int(info["nparts"]) != len(spec) and not case.startswith("vds_strided"):
        fail(case, f"{info['nparts']} parts, expected {len(spec)}")
    filters = d0._filters
    if filters:
        k = next(iter(filters))
        fid = {"gzip": 1, "shuffle": 2, "lzf": 32000}.get(k) or int(k)
        if int(info["filter_id"]) != fid:
            fail(case, f"filter {info['filter_id']} != {fid}")
    # raw chunks: bytes equal to h5py's read_direct_chunk
    g = 0
    stored = 0
    for f, d, first, n in ref:
        for k in range(n):
            idx = first + k
            if int(info["read_path"]) == 2:
                g += 1
                continue
            if d.chunks is None:
                want_mask, want = 0, d[idx].tobytes() if d.ndim == 3 else d[()].tobytes()
            else:
                off = (idx, 0, 0) if d.ndim == 3 else (0, 0)
                try:
                    want_mask, want = d.id.read_direct_chunk(off)
                except Exception:  # chunk never written
                    want_mask, want = None, None
            if want_mask:
                if g not in raw_err or "filter skipped" not in raw_err[g]:
                    fail(case, f"frame {g}: masked chunk not reported ({raw_err.get(g)})")
            elif want is None:
                if g not in raw_err:
                    fail(case, f"frame {g}: unwritten chunk not reported")
            elif g in raw_err:
                fail(case, f"frame {g}: raw read failed: {raw_err[g]}")
            else:
                o, n_ = rawidx[g]
                got = rawdata[o:o + n_]
                stored += len(got)
                if got != want:
                    fail(case, f"frame {g}: raw chunk differs ({len(got)} vs {len(want)} bytes)")
            g += 1
    if int(info["read_path"]) == 0 and not raw_err and int(info["stored_bytes"]) != stored:
        fail(case, f"stored_bytes {info['stored_bytes']} != {stored}")
    # decoded frames: equal to h5py + hdf5plugin arrays
    if frame_err is not None:
        fail(case, f"read_frame: {frame_err}")
        return
    want = np.concatenate([d[first:first + n] if d.ndim == 3 else d[()][None] for f, d, first, n in ref])
    got = np.fromfile(os.path.join(out, "frames.bin"), dtype=want.dtype).reshape(want.shape)
    if not np.array_equal(got, want):
        fail(case, f"decoded frames differ at {np.argwhere(got != want)[:3].tolist()}")
    print(f"ok {case}: {nframes} frames, path {info['read_path']}, {len(parts)} parts", flush=True)
    shutil.rmtree(out)
    return got


R = real
e4 = os.path.join(R, "eiger4m_real_frame_bslz4.h5")
got = check("eiger4m", e4, None, [(e4, "/entry/data/data")], expect_path=0)
if got is not None and int(got[0, 1372, 613]) != 922:
    fail("eiger4m", f"pixel [0,1372,613] = {got[0,1372,613]}, expected 922")

for sub in ("datasets_eiger1", "datasets_eiger2"):
    dd = os.path.join(R, "dectris", sub)
    for fn in sorted(os.listdir(dd)):
        p = os.path.join(dd, fn)
        check(f"{sub}/{fn}", p, None, [(p, "/entry/data/data")], expect_path=0)

hv = os.path.join(R, "dectris/datasets_different_h5ver")
names = ["chunked", "chunked_bslz4", "chunked_external", "chunked_fixed_array",
         "chunked_fixed_array_bslz4", "chunked_fixed_array_paged",
         "chunked_fixed_array_paged_bslz4", "chunked_hard", "chunked_soft",
         "chunked_unlimited_maxshape", "chunked_unlimited_maxshape_bslz4", "not_chunked",
         "not_chunked_external", "not_chunked_hard", "not_chunked_soft",
         "sub_soft/chunked_external", "sub_soft/chunked_soft", "sub_hard/chunked_soft"]
for ver in ("earliest", "v108", "v110", "v112"):
    p = os.path.join(hv, f"dataset_{ver}.h5")
    with h5py.File(p, "r") as f:
        present = [n for n in names if ("/data/" + n) in f]
    for n in present:
        check(f"h5ver/{ver}:{n}", p, "/data/" + n, [(p, "/data/" + n)], expect_path=0)

for sub, master in (("dectris/dataset_artificial_small_001", "test_master.h5"),
                    ("dectris/dataset_artificial_large_001", "test_master.h5"),
                    ("arina_master_external_link", "test_00_master.h5")):
    p = os.path.join(R, sub, master)
    spec = []
    missing = False
    with h5py.File(p, "r") as f:
        for k in sorted(f["/entry/data"].keys()):
            if k.startswith("data_"):
                try:
                    f["/entry/data/" + k]
                except KeyError:
                    missing = True  # a data file not here: the open must say so (issue 16)
                    break
                spec.append((p, "/entry/data/" + k))
    if missing:
        out = tempfile.mkdtemp(dir=work)
        r = subprocess.run([dump, p, "-", out], capture_output=True, text=True)
        if r.returncode == 0 or "is missing" not in r.stderr:
            fail(f"master {sub}", f"a missing data file not reported: exit {r.returncode} {r.stderr}")
    elif spec:
        check(f"master {sub}", p, None, spec, expect_path=0)
        check(f"master {sub} (group)", p, "/entry/data", spec, expect_path=0)
    else:
        print(f"  {sub}: no data links with files (checked by the error test)")

w = work
e2 = os.path.join(R, "dectris/datasets_eiger2/eiger2_simread7_2datafiles_4images_bslz4_uint32_data_00000")
check("vds_simple", os.path.join(w, "vds_simple.h5"), None,
      [(e2 + "1.h5", "/entry/data/data"), (e2 + "2.h5", "/entry/data/data")], expect_path=0)
check("vds_offset", os.path.join(w, "vds_offset.h5"), "/data",
      [(e2 + "2.h5", "/entry/data/data", 1, 1)], expect_path=0)
check("vds_strided", os.path.join(w, "vds_strided.h5"), "/data",
      [(os.path.join(w, "vds_strided.h5"), "/data")], expect_path=2)
L = os.path.join(w, "layouts.h5")
for n, path in (("tiled_bslz4", 2), ("multi_bslz4", 2), ("tiled_lz4", 2), ("gzip", 2),
                ("plain2d", 0), ("chunked2d_bslz4", 0), ("float64", 0), ("masked", 0),
                ("partial", 0)):
    check(f"layouts:{n}", L, "/" + n, [(L, "/" + n)], expect_path=path)

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("all source checks passed")
