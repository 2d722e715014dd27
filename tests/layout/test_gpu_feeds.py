"""Layout gpu's feeds (--gpu-feed pread | register | direct) give the threads layout's
profiles bit for bit (intensity and sigma, Poisson model), on a master of two links to one
synthetic stack (so the register feed meets its windows again in the second pass), with
windows of 2 MiB and at most 4 MiB registered (AZS_GPU_WINDOW_MIB / AZS_GPU_REGISTER_CAP_MIB:
several windows, chunks across two windows, windows released and registered again).
Each feed's trace (azstream bench, AZS_GPU_TRACE) must show it fed frames itself, or that it
was refused (registration or O_DIRECT not available there: the pread fallback is then what
was checked, and the test says so). Exit 77 without a device.

usage: test_gpu_feeds.py AZSTREAM WORKDIR"""
import os, re, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli_integrate"))
try:
    import h5py
    import numpy as np  # noqa: F401
except ImportError:
    sys.exit(77)
from e2e import check, finish, fresh_workdir, read, same

az = os.path.abspath(sys.argv[1])
poni = os.path.join(here, "..", "data", "real", "poni", "ssrl_Pilatus300kw_LaB6.poni")
wd = fresh_workdir(sys.argv[2])
# batches of 4 frames in 3 slots: the registrar stays a few frames ahead, so the cap
# releases windows during the run and the second pass registers them again
env = dict(os.environ, AZS_GPU_WINDOW_MIB="2", AZS_GPU_REGISTER_CAP_MIB="4", AZS_GPU_TRACE="1",
           AZS_GPU_BATCH="4", AZS_GPU_SLOTS="3")
N = 60


def run(*a):
    p = subprocess.run([az] + list(map(str, a)), capture_output=True, text=True, env=env, timeout=600)
    return p.returncode, p.stdout + p.stderr


rc, log = run("synth", "-o", "w.h5", "--poni", poni, "--frames", N, "--seed", 3)
check(rc == 0, "synth: " + log[-300:])
with h5py.File("master.h5", "w") as f:
    g = f.create_group("entry/data")
    for i in (1, 2):
        g["data_%06d" % i] = h5py.ExternalLink(os.path.abspath("w.h5"), "/entry/data/data")

common = ["--poni", poni, "--method", "bbox", "--error-model", "poisson", "--npt", 500, "--quiet",
          "--no-cache"]
rc, log = run("integrate", "master.h5", *common, "--layout", "threads", "-o", "threads.h5")
check(rc == 0, "threads: " + log[-300:])
ref_i, ref_s = read("threads.h5", "I"), read("threads.h5", "I_errors")
check(ref_i.shape[0] == 2 * N, "threads: %d rows" % ref_i.shape[0])

for feed in ("pread", "register", "direct"):
    rc, log = run("integrate", "master.h5", *common, "--layout", "gpu", "--gpu-feed", feed,
                  "-o", "gpu-%s.h5" % feed)
    if rc != 0 and ("no CUDA device" in log or "without CUDA" in log):
        print("gpu: no device, skipped")
        sys.exit(77)
    check(rc == 0, "gpu --gpu-feed %s: %s" % (feed, log[-300:]))
    if rc == 0:
        check(same(read("gpu-%s.h5" % feed, "I"), ref_i), "--gpu-feed %s: intensity differs from threads" % feed)
        check(same(read("gpu-%s.h5" % feed, "I_errors"), ref_s), "--gpu-feed %s: sigma differs from threads" % feed)
    rc, log = run("bench", "master.h5", "--poni", poni, "--method", "bbox", "--frames", 2 * N,
                  "--layouts", "gpu", "--gpu-feed", feed)
    m = re.search(r"layout gpu feed: (\w+)( \(refused: pread\))?, (\d+) frames fed by it; windows (\d+)", log)
    check(rc == 0 and m, "bench --gpu-feed %s: %s" % (feed, log[-400:]))
    if not m:
        continue
    refused, fed, windows = bool(m.group(2)), int(m.group(3)), int(m.group(4))
    check(m.group(1) == feed, "trace says feed %s, asked %s" % (m.group(1), feed))
    if refused:
        notice = [ln for ln in log.splitlines() if "refused" in ln and "--gpu-feed" in ln]
        check(notice, "--gpu-feed %s refused without a notice" % feed)
        print("--gpu-feed %s refused on this machine (%s): checked the pread fallback" %
              (feed, notice[0] if notice else "?"))
    else:
        check(fed > 0, "--gpu-feed %s fed no frame itself" % feed)
        if feed == "register":
            # two passes over the file through 2 MiB windows, at most 4 MiB kept: the second
            # pass registers again what the cap released, so more windows than the file has
            distinct = -(-os.path.getsize("w.h5") // (2 << 20))
            check(windows > distinct, "register: %d windows, the file has %d" % (windows, distinct))
            check(fed < 2 * N, "register: every frame inside a window (%d): none across two?" % fed)
        print("--gpu-feed %s: %d of %d frames fed by it, %d windows" % (feed, fed, 2 * N, windows))

finish("gpu feeds")
