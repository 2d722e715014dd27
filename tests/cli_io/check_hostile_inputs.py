#!/usr/bin/env python3
"""Hostile and incomplete inputs through the CLI (issue 16, "nothing lost, nothing silently
wrong"), each asserting what the old code got wrong:
  - a master with a missing data file: exit 1 naming the file and the frames it would hold
    (the old code integrated what it found and exited 0);
  - --allow-missing: the rest integrated, the missing frames NaN rows with frame_status 18,
    in layouts serial, threads and procs;
  - a file declaring (2, 30000, 30000): refused before allocating, with the memory it needs
    and what is available, at a bounded peak RSS (the old code reached 12 GB);
  - a dataset declaring 200,000,000 frames and holding 3: opened and integrated without
    touching a per-frame index of that size (the old code: 2.6 GB resident);
  - --npt 100000 --npt-azim 20000 and --npt 1e8: a message about the bins, not "a pixel
    spanning 4096 bins";
  - a master of 5,000 data files under ulimit -n 1024 (the old code: two descriptors per
    part, failing past ~500 files);
  - a bitshuffle header the chunk cannot hold: "header says N bytes ... chunk holds M", not
    "buffer too small";
  - an HDF5 file of a newer superblock version: said so, not "corrupt".
usage: check_hostile_inputs.py AZSTREAM DATA WORKDIR"""
import os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli_integrate"))
try:
    import h5py
    import numpy as np
except ImportError:
    sys.exit(77)
import make_stack
from e2e import check, finish, fresh_workdir, read

az = os.path.abspath(sys.argv[1])
wd = fresh_workdir(sys.argv[3])
NY = NX = 16
MISSING, UNWRITTEN = 18, 19  # azstream/status.h
make_stack.write_poni("g.poni", NY, NX)


# Runs a command and prints its peak RSS: a fresh Python per command, as ru_maxrss of the
# children is the largest of all of them so far.
PEAK = ("import resource, subprocess, sys\n"
        "r = subprocess.call(sys.argv[1:])\n"
        "sys.stderr.write('\\nPEAK_RSS_KB %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(r)\n")


def run(args, ulimit=None, timeout=300):
    """Exit code, stdout + stderr, and the peak RSS (MB) of the command."""
    cmd = [sys.executable, "-c", PEAK, az] + [str(a) for a in args]
    if ulimit:
        cmd = ["bash", "-c", "ulimit %s && exec \"$@\"" % ulimit, "sh"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    log, _, peak = (p.stdout + p.stderr).rpartition("PEAK_RSS_KB ")
    mb = int(peak.split()[0]) / 1024.0 if peak.strip() else 0.0
    print("%-60s exit %d, peak RSS %.0f MB" % (" ".join(map(str, args))[:60], p.returncode, mb))
    return p.returncode, log, mb


def integrate(src, out, *extra, ulimit=None):
    return run(["integrate", src, "--poni", "g.poni", "--npt", 16, "-o", out, *extra], ulimit=ulimit)


def data_file(path, nframes, first_value):
    d = (np.arange(nframes * NY * NX, dtype=np.uint32).reshape(nframes, NY, NX) % 97) + first_value
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data/data", data=d, chunks=(1, NY, NX))


def master(path, names, nimages=None):
    with h5py.File(path, "w") as f:
        g = f.create_group("entry/data")
        for i, n in enumerate(names):
            g["data_%06d" % (i + 1)] = h5py.ExternalLink(n, "/entry/data/data")
        if nimages:
            f["entry/instrument/detector/detectorSpecific/nimages"] = nimages
            f["entry/instrument/detector/detectorSpecific/ntrigger"] = 1


# ---- a missing data file: in the middle, and the last one (written ahead of its data)
names = ["m_data_%06d.h5" % (i + 1) for i in range(4)]
for i, n in enumerate(names):
    if i != 2:
        data_file(n, 3, 10 * i)
master("m_master.h5", names, nimages=12)
rc, log, _ = integrate("m_master.h5", "m.h5")
check(rc == 1 and "m_data_000003.h5" in log and "frames 6..8" in log,
      "missing middle file: exit %d, %s" % (rc, log[-600:]))
check(not os.path.exists("m.h5") or read("m.h5").shape[0] == 0, "missing middle file: rows written")
os.remove(names[3])
rc, log, _ = integrate("m_master.h5", "m_last.h5")
check(rc == 1 and "m_data_000003.h5" in log, "missing last files: exit %d, %s" % (rc, log[-600:]))
data_file(names[3], 3, 30)

# ---- --allow-missing: every layout writes the same rows, the missing ones NaN, status 18
want_status = [0] * 6 + [MISSING] * 3 + [0] * 3
ref = None
for tag, extra in (("serial", ["--layout", "serial"]),
                   ("threads", ["--layout", "threads", "--workers", 2]),
                   ("procs", ["--layout", "procs", "--workers", 2, "--threads-per-worker", 1])):
    out = "allow_%s.h5" % tag
    rc, log, _ = integrate("m_master.h5", out, "--allow-missing", *extra)
    check(rc == 0, "%s --allow-missing: exit %d %s" % (tag, rc, log[-800:]))
    if rc != 0:
        continue
    rows, st = read(out), read(out, "frame_status")
    check(list(st) == want_status, "%s: frame_status %s" % (tag, list(st)))
    check(np.isnan(rows[6:9]).all() and not np.isnan(rows[[0, 5, 9, 11]]).all(),
          "%s: missing rows not NaN, or present rows NaN" % tag)
    check("3 without data" in log, "%s: summary does not count the absent frames: %s" % (tag, log))
    if ref is None:
        ref = rows
    else:
        check(np.array_equal(rows, ref, equal_nan=True), "%s: rows differ from serial" % tag)
rc, log, _ = run(["info", "m_master.h5", "--allow-missing"])
check(rc == 0 and "(missing)" in log and "m_data_000003.h5" in log, "info --allow-missing: %s" % log)

# ---- a huge declared frame: refused with the memory it needs, peak RSS bounded
with h5py.File("huge_shape.h5", "w") as f:
    f.create_dataset("entry/data/data", (2, 30000, 30000), np.uint32, chunks=(1, 3000, 3000))
make_stack.write_poni("huge.poni", 30000, 30000)
rc, log, rss = run(["integrate", "huge_shape.h5", "--poni", "huge.poni", "-o", "huge.h5"],
                   ulimit="-v 4000000")
if "AddressSanitizer" in log:  # a sanitizer build reserves terabytes: no ulimit -v there
    print("sanitizer build: the ulimit -v case is not run")
else:
    check(rc == 1 and "needs" in log and "available" in log and "30000 x 30000" in log,
          "huge shape: exit %d %s" % (rc, log[-600:]))
rc, log, rss = run(["integrate", "huge_shape.h5", "--poni", "huge.poni", "-o", "huge.h5"])
check(rc == 1 and "available" in log and rss < 1000, "huge shape, no ulimit: exit %d, %.0f MB, %s"
      % (rc, rss, log[-400:]))

# ---- 200,000,000 declared frames, 3 written: no index of that size in memory
with h5py.File("many.h5", "w") as f:
    d = f.create_dataset("entry/data/data", (200_000_000, NY, NX), np.uint32, chunks=(1, NY, NX))
    d[0:3] = 7
rc, log, rss = run(["info", "many.h5"])
check(rc == 0 and "200000000" in log and rss < 600, "200M frames info: exit %d, %.0f MB, %s"
      % (rc, rss, log[-400:]))
rc, log, rss = integrate("many.h5", "many_out.h5", "--frames", "0:5")
check(rc == 0 and rss < 600, "200M frames integrate: exit %d, %.0f MB %s" % (rc, rss, log[-400:]))
if rc == 0:
    check(list(read("many_out.h5", "frame_status")) == [0, 0, 0, UNWRITTEN, UNWRITTEN],
          "200M frames: statuses %s" % list(read("many_out.h5", "frame_status")))

# ---- bins: memory and resolution, said as such
rc, log, rss = integrate("m_data_000001.h5", "bins.h5", "--npt", 100000, "--npt-azim", 20000)
check(rc == 1 and "bins" in log and "available" in log and rss < 1000,
      "npt 100000 x 20000: exit %d, %.0f MB, %s" % (rc, rss, log[-400:]))
rc, log, _ = integrate("m_data_000001.h5", "bins2.h5", "--npt", 100000000)
check(rc != 0 and "--npt" in log and "finer" in log, "npt 1e8: exit %d %s" % (rc, log[-400:]))

# ---- 5,000 data files under ulimit -n 1024
os.makedirs("many_files", exist_ok=True)
names = []
for i in range(5000):
    n = "many_files/d_%06d.h5" % (i + 1)
    with h5py.File(n, "w", libver="earliest") as f:
        f.create_dataset("entry/data/data", data=np.full((2, NY, NX), i % 50, np.uint32),
                         chunks=(1, NY, NX))
    names.append(os.path.basename(n))
master("many_files/master.h5", names, nimages=10000)
rc, log, _ = integrate("many_files/master.h5", "many_files.h5", "--layout", "threads",
                       "--workers", 2, ulimit="-n 1024")
check(rc == 0, "5000 files under ulimit -n 1024: exit %d %s" % (rc, log[-600:]))
if rc == 0:
    st = read("many_files.h5", "frame_status")
    check(len(st) == 10000 and not st.any(), "5000 files: %d rows, statuses %s" % (len(st), set(st)))

# ---- a lying bitshuffle header (needs the 32008 filter to write one)
try:
    import hdf5plugin
except ImportError:
    hdf5plugin = None
if hdf5plugin:
    with h5py.File("lying.h5", "w") as f:
        d = f.create_dataset("entry/data/data", data=np.ones((2, NY, NX), np.uint32),
                             chunks=(1, NY, NX), **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
        c = bytearray(d.id.read_direct_chunk((1, 0, 0))[1])
        c[0:8] = (1 << 40).to_bytes(8, "big")  # 1 TB in a chunk of a few dozen bytes
        d.id.write_direct_chunk((1, 0, 0), bytes(c))
    rc, log, _ = run(["export", "lying.h5", "-o", "lying.npy"])
    check(rc == 1 and "header says" in log and "chunk holds" in log and "buffer too small" not in log,
          "lying header (export): exit %d %s" % (rc, log[-400:]))
    rc, log, _ = integrate("lying.h5", "lying_out.h5")
    check(rc == 1 and str(1 << 40) in log and "frame 1" in log and "buffer too small" not in log,
          "lying header (integrate): %s" % log[-400:])
else:
    print("no hdf5plugin: the lying bitshuffle header is not written")

# ---- a file of a newer HDF5 format: its superblock version said, not "corrupt"
data_file("newer.h5", 1, 0)
with open("newer.h5", "r+b") as f:
    f.seek(8)
    f.write(bytes([4]))  # superblock version 4: none that this libhdf5 reads
rc, log, _ = run(["info", "newer.h5"])
check(rc == 1 and "newer HDF5" in log and "superblock version 4" in log and "corrupt" not in log,
      "newer superblock: exit %d %s" % (rc, log[-400:]))

finish("hostile inputs")
