#!/usr/bin/env python3
"""The frame feed's policy (src/layout/frame_feed.c, azstream/layout.h "Bad frames") in
every layout, through the CLI: one stack holding a good frame and each kind of bad or odd
chunk, integrated by serial, threads (each --read feeding), procs, mpi (mpirun -np 2, when
built) and gpu (with --gpu: exit 77 without a device), with --skip-bad and without.
Asserted: with --skip-bad every layout writes the same rows bit for bit (NaN included) and
the same frame_status, the expected one for each kind; the chunk stored with its filter
skipped is integrated, the chunk never written is a NaN row with frame_status 19
(AZS_ERR_UNWRITTEN, not the fill value with status 0), and every good frame's row equals
the one of a clean stack; without --skip-bad every layout stops at the first bad frame
(exit 1, the frames before it written, the message naming it), from each kind of bad
chunk, and never at the unwritten one (a frame without data is recorded, not a failure).
usage: test_frame_policy.py AZSTREAM WORKDIR HAVE_MPI(0|1) [--gpu] [--stacks DIR]
(--stacks: take p.h5, clean.h5 and g.poni from DIR, written by an earlier run: a machine
without hdf5plugin, such as the GPU one, can then run it with h5py alone)"""
import os, shutil, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli_integrate"))
args = sys.argv[4:]
stacks = os.path.abspath(args[args.index("--stacks") + 1]) if "--stacks" in args else None
try:
    import h5py  # noqa: F401
    import numpy as np
    if not stacks:
        import hdf5plugin  # noqa: F401
except ImportError:
    sys.exit(77)
import make_stack
from e2e import check, finish, fresh_workdir, read, same

az = os.path.abspath(sys.argv[1])
wd = fresh_workdir(sys.argv[2])
have_mpi = sys.argv[3] == "1" and shutil.which("mpirun")
gpu = "--gpu" in args
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1",
           ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":"))

OK, CORRUPT, TRUNCATED, SIZE_MISMATCH, UNWRITTEN = 0, 7, 8, 9, 19  # azstream/status.h
NY, NX, N = 96, 80, 11
FB = NY * NX * 4
# frame -> (what its chunk is, the frame_status every layout must give it)
KINDS = {
    2: ("corrupt LZ4 block", CORRUPT),
    3: ("header announcing more bytes than the frame", SIZE_MISMATCH),
    4: ("truncated chunk", TRUNCATED),
    5: ("never written (HDF5 would give the fill value)", UNWRITTEN),
    6: ("stored with its filter skipped", OK),
    8: ("header announcing fewer bytes than the frame", SIZE_MISMATCH),
    9: ("block lengths running past the chunk's end", TRUNCATED),
    10: ("good, in blocks of 64 KiB (the GPU decoder takes up to 32: the host path)", OK),
}
NAN_ROWS = sorted(f for f, (_, st) in KINDS.items() if st != OK)
BAD = [f for f in NAN_ROWS if KINDS[f][1] != UNWRITTEN]  # the ones that stop a run


def write_stacks():
    make_stack.write_poni("g.poni", NY, NX)
    data = make_stack.write_stack("clean.h5", N, NY, NX)
    with h5py.File("clean.h5", "r") as f:
        raw = [f["entry/data/data"].id.read_direct_chunk((i, 0, 0))[1] for i in range(N)]
    with h5py.File("big_blocks.h5", "w") as f:
        d = f.create_dataset("d", data=data[10:11], chunks=(1, NY, NX),
                             **hdf5plugin.Bitshuffle(nelems=16384, cname="lz4"))
        raw[10] = d.id.read_direct_chunk((0, 0, 0))[1]
        assert int.from_bytes(raw[10][8:12], "big") == 65536
    with h5py.File("p.h5", "w") as f:
        d = f.create_dataset("entry/data/data", (N, NY, NX), np.uint32, chunks=(1, NY, NX),
                             **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
        for i in range(N):
            c = bytearray(raw[i])
            mask = 0
            if i == 2:  # first block's first sequence: no literal, a match 1 byte back at 0
                c[16:19] = b"\x00\x01\x00"
            elif i == 3:
                c[0:8] = (FB + 4096).to_bytes(8, "big")
            elif i == 4:
                c = c[: len(c) // 2]
            elif i == 5:
                continue
            elif i == 6:
                c, mask = bytearray(data[i].tobytes()), 1
            elif i == 8:
                c[0:8] = (FB - 4096).to_bytes(8, "big")
            elif i == 9:  # the first block's length field claims more than the chunk holds
                c[12:16] = (len(c)).to_bytes(4, "big")
            d.id.write_direct_chunk((i, 0, 0), bytes(c), filter_mask=mask)


def integrate(tag, layout, *extra, np_=0, src="p.h5"):
    out = "%s.h5" % tag
    cmd = [az, "integrate", src, "--poni", "g.poni", "--npt", 64, "-o", out, *extra]
    if layout == "mpi":
        cmd = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(np_),
               *cmd, "--layout", "mpi", "--workers", 1]
    else:
        cmd += ["--layout", layout]
    p = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=env, timeout=300)
    return p.returncode, p.stdout + p.stderr, out


LAYOUTS = [("serial", "serial", [], 0)]
if gpu:
    LAYOUTS.append(("gpu", "gpu", [], 0))
else:
    LAYOUTS += [("threads-%s" % r, "threads", ["--workers", 3, "--read", r], 0)
                for r in ("reader", "self", "map")]
    LAYOUTS.append(("procs", "procs", ["--workers", 2, "--threads-per-worker", 1], 0))
    if have_mpi:
        LAYOUTS.append(("mpi", "mpi", [], 2))
    else:
        print("mpi: not built or no mpirun, not run")

if stacks:
    for name in ("p.h5", "clean.h5", "g.poni"):
        shutil.copy(os.path.join(stacks, name), name)
else:
    write_stacks()
rc, log, out = integrate("clean_rows", "serial", src="clean.h5")  # the good frames' rows
check(rc == 0, "clean stack: %d %s" % (rc, log))
clean = read(out)

ref_rows = ref_status = None
for tag, layout, extra, np_ in LAYOUTS:
    # --skip-bad: every frame, the same rows and statuses everywhere
    rc, log, out = integrate(tag + "_skip", layout, *extra, "--skip-bad", np_=np_)
    if gpu and rc != 0 and ("no CUDA device" in log or "no GPU" in log):
        print("gpu: no device, skipped")
        sys.exit(77)
    check(rc == 0, "%s --skip-bad: exit %d %s" % (tag, rc, log[-2000:]))
    if rc != 0:
        continue
    rows, status = read(out), read(out, "frame_status")
    want = [KINDS.get(i, (None, OK))[1] for i in range(N)]
    check(list(status) == want, "%s: frame_status %s, want %s" % (tag, list(status), want))
    check(all(np.isnan(rows[b]).all() for b in NAN_ROWS), "%s: bad rows not NaN" % tag)
    good = [i for i in range(N) if i not in NAN_ROWS]
    check(same(rows[good], clean[good]), "%s: good frames differ from the clean stack's" % tag)
    if ref_rows is None:
        ref_rows, ref_status = rows, status
    else:
        check(same(rows, ref_rows) and same(status, ref_status), "%s: rows differ from serial" % tag)
    # without it: the run stops at the first bad frame, from each kind
    for first in [0] + BAD[1:] + [5]:  # from 5: through the unwritten frame to 8
        stop = min(b for b in BAD if b >= first)
        rc, log, out = integrate("%s_stop%d" % (tag, first), layout, *extra,
                                 "--frames", "%d:%d" % (first, N), np_=np_)
        n = read(out).shape[0] if os.path.exists(out) else -1
        if n > 0 and first <= 5 < stop:  # passed the unwritten frame: recorded, not a stop
            st5 = read(out, "frame_status")[5 - first]
            check(st5 == UNWRITTEN, "%s from frame %d: frame 5 status %d" % (tag, first, st5))
        # stopped before its first row: no output at all (doc/design.md, "Sinks")
        check(rc == 1 and (n == stop - first or (stop == first and n == -1)) and ("frame %d" % stop) in log,
              "%s from frame %d: exit %d, %d rows (want %d), %s" % (tag, first, rc, n, stop - first,
                                                                   log[-1500:]))
        if rc == 1 and n > 0:
            check(same(read(out), ref_rows[first:stop]), "%s from frame %d: rows" % (tag, first))
finish("frame policy" + (" (gpu)" if gpu else ""))
