#!/usr/bin/env python3
"""Layout 1 keeps its memory bounded however long the stack (the issue: a 100 GB stack in
under 2 GB of RSS). A stack of several GB of compressed chunks (a master of external links
to one file of poorly compressible frames) is integrated with each feeding; the peak
resident size of each run must stay a small fraction of the bytes that went through it.
Mapped chunks count in the RSS while mapped, so a mapping not given back would show here.
usage: test_rss.py AZSTREAM WORKDIR"""
import os, subprocess, sys
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli_integrate"))
try:
    import h5py, hdf5plugin  # noqa: F401
except ImportError:
    sys.exit(77)
import make_stack
from e2e import check, fresh_workdir, finish

az = os.path.abspath(sys.argv[1])
fresh_workdir(sys.argv[2])
NY, NX, NF, LINKS = 512, 512, 400, 15
# poorly compressible frames, so that the chunks are many bytes
noise = np.random.default_rng(3).integers(0, 1 << 20, (NY, NX), dtype=np.uint32)
chunk_bytes = make_stack.write_long_stack("data.h5", NF, NY, NX, frame=noise)
with h5py.File("master.h5", "w") as f:
    g = f.create_group("entry/data")
    for i in range(1, LINKS + 1):
        g["data_%06d" % i] = h5py.ExternalLink("data.h5", "/entry/data/data")
make_stack.write_poni("g.poni", NY, NX)
stack_mb = chunk_bytes * NF * LINKS / 1e6
for feed in ("map", "self", "reader"):
    # each run in its own Python, so that ru_maxrss is that run's alone
    code = ("import resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.stderr.write(p.stderr)\n")
    p = subprocess.run([sys.executable, "-c", code, az, "integrate", "master.h5", "--poni", "g.poni",
                        "--npt", "100", "--method", "no", "--layout", "threads", "--workers", "2",
                        "--read", feed, "-o", "out_%s.h5" % feed], capture_output=True, text=True)
    rc, rss_kb = (int(x) for x in p.stdout.split())
    rss_mb = rss_kb / 1024
    print("--read %-6s %d frames, %.0f MB of chunks: exit %d, peak RSS %.0f MB" %
          (feed, NF * LINKS, stack_mb, rc, rss_mb))
    check(rc == 0, "%s: exit %d: %s" % (feed, rc, p.stderr.strip()[-300:]))
    check(rss_mb <= 0.1 * stack_mb, "%s: peak RSS %.0f MB for a %.0f MB stack" % (feed, rss_mb, stack_mb))
    if rc == 0:
        with h5py.File("out_%s.h5" % feed, "r") as f:
            check(f["entry/result/I"].shape[0] == NF * LINKS, "%s: %d rows" % (feed, f["entry/result/I"].shape[0]))
finish("bounded memory")
