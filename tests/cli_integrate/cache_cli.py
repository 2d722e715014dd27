"""The integrator cache through `azstream integrate` (doc/design.md "Integrator cache").

Usage: cache_cli.py AZSTREAM WORKDIR DATA CASE, CASE one of
  hit         a second run maps the cache and writes the same bytes as the first and as a
              --no-cache run (serial, threads, 1D poisson, 2D full)
  keys        an option, the PONI, the mask's content (same file name), the dark's content,
              the frames' dtype each miss the cache (a new file), then hit
  damage      a flipped byte in the payload, a truncated file, a header claiming a larger file:
              a notice, rebuilt, the same output, the file replaced (the next run maps it)
  dirs        a missing and a read-only --cache-dir: a notice, exit 0, the same output; the
              default folder $XDG_CACHE_HOME/azstream is created and used
  concurrent  two runs at once on an empty folder (the real Eiger 4M frame, ~1 s builds): one
              valid file, no temporary file left, the same output
  procs       layout procs' workers map the file the parent wrote: a cache file forged (the
              key of the default settings over the matrix of --normalization-factor 2, hashes
              recomputed here with XXH64) changes their output, which --no-cache does not
"""
import glob
import os
import shutil
import struct
import subprocess
import sys

import h5py
import numpy as np

import make_stack

EXE, WORK, DATA, CASE = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
WORK = os.path.join(WORK, CASE)
REAL = os.path.join(DATA, "real", "eiger4m_real_frame_bslz4.h5")
REAL_PONI = os.path.join(DATA, "real", "poni", "maxiv_azint_bench_Eiger4M.poni")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def run(*args, env=None, expect=0):
    # --overwrite: the cases write the same output names again and again
    p = subprocess.run([EXE, "integrate", *args, "--overwrite"], capture_output=True, text=True, env=env)
    if p.returncode != expect:
        print(p.stdout, p.stderr)
    check(p.returncode == expect, f"exit {p.returncode} (expected {expect}): {' '.join(args)}")
    return p


def result_bytes(path):
    """Every dataset of /entry/result, as raw bytes."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype.str, obj.shape, np.asarray(obj[()]).tobytes())
        f["entry/result"].visititems(visit)
    return out


def same(a, b, what):
    ra, rb = result_bytes(a), result_bytes(b)
    check(ra.keys() == rb.keys() and all(ra[k] == rb[k] for k in ra), f"{what}: {a} and {b} differ")


def cache_files(d):
    return sorted(glob.glob(os.path.join(d, "integrator-*.azsi")))


def origin(p):
    if "mapped from the cache" in p.stdout:
        return "mapped"
    if "built and cached" in p.stdout:
        return "stored"
    if "not cached" in p.stdout:
        return "not stored"
    return "none"


def setup():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    os.chdir(WORK)
    make_stack.write_poni("g.poni", 120, 100)
    make_stack.write_stack("s.h5")


# ---------------------------------------------------------------- XXH64 (its specification)
M64 = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                      0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, v):
    return (_rotl((acc + v * P2) & M64, 31) * P1) & M64


def xxh64(b, seed=0):
    n, i = len(b), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = _round(v[k], struct.unpack_from("<Q", b, i + 8 * k)[0])
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for k in range(4):
            h = ((h ^ _round(0, v[k])) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", b, i)[0]), 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (struct.unpack_from("<I", b, i)[0] * P1 & M64), 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h = (_rotl(h ^ (b[i] * P5 & M64), 11) * P1) & M64
        i += 1
    h ^= h >> 33
    h = h * P2 & M64
    h ^= h >> 29
    h = h * P3 & M64
    return h ^ (h >> 32)


# ---------------------------------------------------------------- cases
def case_hit():
    setup()
    for i, extra in enumerate([["--layout", "serial"], ["--layout", "threads", "--error-model", "poisson"],
                               ["--npt-azim", "36", "--method", "full"]]):
        base = ["s.h5", "--poni", "g.poni", "--cache-dir", "c", *extra]
        os.makedirs("c", exist_ok=True)
        p1 = run(*base, "-o", f"a{i}.h5")
        p2 = run(*base, "-o", f"b{i}.h5")
        p0 = run(*base, "--no-cache", "-o", f"n{i}.h5")
        check(origin(p1) == "stored" and origin(p2) == "mapped" and origin(p0) == "none",
              f"hit {extra}: origins {origin(p1)}, {origin(p2)}, {origin(p0)}")
        same(f"a{i}.h5", f"b{i}.h5", f"hit {extra}")
        same(f"a{i}.h5", f"n{i}.h5", f"no-cache {extra}")
        check(len(cache_files("c")) == i + 1, f"hit {extra}: {len(cache_files('c'))} cache files")


def case_keys():
    setup()
    make_stack.write_stack("s16.h5", dtype=np.uint16)
    np.save("m.npy", (np.arange(120 * 100).reshape(120, 100) % 51 == 0).astype(np.uint8))
    np.save("d.npy", np.full((120, 100), 3.0, np.float32))
    with open("g.poni") as f:
        text = f.read()
    with open("g2.poni", "w") as f:
        f.write(text.replace("Distance: 0.12", "Distance: 0.1201"))
    base = ["--cache-dir", "c", "--mask", "m.npy", "--dark", "d.npy", "--no-dummy"]
    os.makedirs("c")
    check(origin(run("s.h5", "--poni", "g.poni", *base, "-o", "ref.h5")) == "stored", "keys: first run stored")
    n = 1

    def miss(what, *args, prepare=None):
        nonlocal n
        if prepare:
            prepare()
        p = run(*args, "-o", f"{what}.h5")
        n += 1
        check(origin(p) == "stored" and len(cache_files("c")) == n,
              f"keys: {what} should miss: {origin(p)}, {len(cache_files('c'))} files")
        p = run(*args, "-o", f"{what}2.h5")
        check(origin(p) == "mapped", f"keys: {what} again should map: {origin(p)}")
        same(f"{what}.h5", f"{what}2.h5", f"keys: {what}")

    miss("npt", "s.h5", "--poni", "g.poni", *base, "--npt", "300")
    miss("poni", "s.h5", "--poni", "g2.poni", *base)
    miss("mask", "s.h5", "--poni", "g.poni", *base,
         prepare=lambda: np.save("m.npy", (np.arange(120 * 100).reshape(120, 100) % 53 == 0).astype(np.uint8)))
    miss("dark", "s.h5", "--poni", "g.poni", *base,
         prepare=lambda: np.save("d.npy", np.full((120, 100), 4.0, np.float32)))
    miss("dtype", "s16.h5", "--poni", "g.poni", *base)


def damage_header(path):
    with open(path, "r+b") as f:  # file_bytes, the first uint64 after magic, format, byte order
        f.seek(16)
        size = struct.unpack("<Q", f.read(8))[0]
        f.seek(16)
        f.write(struct.pack("<Q", size + 4096))


def case_damage():
    setup()
    os.makedirs("c")
    args = ["s.h5", "--poni", "g.poni", "--cache-dir", "c", "--method", "full"]
    run(*args, "-o", "ref.h5")
    (path,) = cache_files("c")
    good = open(path, "rb").read()

    def flip(p):
        with open(p, "r+b") as f:
            f.seek(len(good) - 100)
            f.write(bytes([good[len(good) - 100] ^ 0x20]))

    for what, spoil in [("flipped byte", flip), ("truncated", lambda p: os.truncate(p, len(good) - 1000)),
                        ("header beyond the file", damage_header)]:
        spoil(path)
        p = run(*args, "-o", "out.h5")
        check("integrator cache:" in p.stderr and "rebuilt" in p.stderr and origin(p) == "stored",
              f"damage {what}: notice '{p.stderr.strip()}', origin {origin(p)}")
        same("ref.h5", "out.h5", f"damage {what}")
        check(open(path, "rb").read() == good, f"damage {what}: the file is not replaced by a good one")
        check(origin(run(*args, "-o", "out2.h5")) == "mapped", f"damage {what}: not mapped afterwards")
        same("ref.h5", "out2.h5", f"damage {what} (mapped)")


def case_dirs():
    setup()
    args = ["s.h5", "--poni", "g.poni"]
    run(*args, "--no-cache", "-o", "ref.h5")
    readonly = "ro"
    os.makedirs(readonly)
    os.chmod(readonly, 0o555)
    if os.geteuid() == 0:  # root writes through mode bits; /proc takes no new file
        readonly = "/proc"
    for what, d in [("missing", "no/such/dir"), ("read-only", readonly)]:
        p = run(*args, "--cache-dir", d, "-o", f"{what}.h5")
        check("integrator cache:" in p.stderr and origin(p) == "not stored",
              f"dirs {what}: notice '{p.stderr.strip()}', origin {origin(p)}")
        same("ref.h5", f"{what}.h5", f"dirs {what}")
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(WORK, "xdg"))
    check(origin(run(*args, "-o", "x1.h5", env=env)) == "stored", "dirs: default folder not used")
    check(len(cache_files("xdg/azstream")) == 1, "dirs: no file in $XDG_CACHE_HOME/azstream")
    check(origin(run(*args, "-o", "x2.h5", env=env)) == "mapped", "dirs: default folder not mapped")
    same("ref.h5", "x2.h5", "dirs: default folder")
    open("afile", "w").close()
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(WORK, "afile"))
    p = run(*args, "-o", "x3.h5", env=env)
    check("cannot create" in p.stderr and origin(p) == "none", f"dirs: uncreatable default: '{p.stderr.strip()}'")
    same("ref.h5", "x3.h5", "dirs: uncreatable default")
    os.chmod("ro", 0o755)


def case_concurrent():
    setup()
    os.makedirs("c")
    args = [REAL, "--poni", REAL_PONI, "--method", "full", "--layout", "serial", "--cache-dir", "c"]
    procs = [subprocess.Popen([EXE, "integrate", *args, "-o", f"w{i}.h5"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate() for p in procs]
    for p, (o, e) in zip(procs, outs):
        check(p.returncode == 0 and not e.strip(), f"concurrent: exit {p.returncode}, stderr '{e.strip()}'")
    left = sorted(os.listdir("c"))
    check(len(cache_files("c")) == 1 and len(left) == 1, f"concurrent: the folder holds {left}")
    p = run(*args, "-o", "w2.h5")
    check(origin(p) == "mapped" and not p.stderr.strip(), f"concurrent: third run {origin(p)}, '{p.stderr}'")
    same("w0.h5", "w1.h5", "concurrent")
    same("w0.h5", "w2.h5", "concurrent (mapped)")


def case_procs():
    setup()
    os.makedirs("c")
    args = ["s.h5", "--poni", "g.poni", "--cache-dir", "c"]
    run(*args, "--normalization-factor", "2", "-o", "nf2.h5")
    (f2,) = cache_files("c")
    run(*args, "-o", "nf1.h5")
    (f1,) = [f for f in cache_files("c") if f != f2]
    a, b = bytearray(open(f2, "rb").read()), open(f1, "rb").read()
    key_off, key_len = struct.unpack_from("<QQ", b, 24)
    check(struct.unpack_from("<QQ", a, 24) == (key_off, key_len), "procs: key sizes differ")
    a[key_off:key_off + key_len] = b[key_off:key_off + key_len]
    head = bytearray(a[:192])
    head[48:56] = bytes(8)
    parts = struct.pack("<3Q", xxh64(bytes(head), 0x617a7374726d3031), xxh64(bytes(a[192:key_off]), 0x617a7374726d3031),
                        xxh64(bytes(a[key_off:key_off + key_len]), 0x617a7374726d3031))
    struct.pack_into("<Q", a, 48, xxh64(parts, 0x617a7374726d3031))
    with open(f1, "wb") as f:
        f.write(a)
    for layout in ["procs", "threads"]:
        p = run(*args, "--layout", layout, "--workers", "2", "-o", f"{layout}.h5")
        check(origin(p) == "mapped", f"procs: the forged file was not mapped ({layout}): {p.stdout} {p.stderr}")
        same("nf2.h5", f"{layout}.h5", f"procs: {layout} with the forged cache")
    run(*args, "--layout", "procs", "--workers", "2", "--no-cache", "-o", "plain.h5")
    same("nf1.h5", "plain.h5", "procs: --no-cache")


if __name__ == "__main__":
    check(xxh64(b"") == 0xEF46DB3751D8E999 and xxh64(b"Nobody inspects the spammish repetition")
          == 0xFBCEA83C8A378BF1, "the test's XXH64")
    if CASE == "concurrent" and not os.path.exists(REAL):
        print("skip: no", REAL)
        sys.exit(77)
    globals()["case_" + CASE]()
    print("FAILED:" if failures else "ok", *failures, sep="\n  ")
    sys.exit(1 if failures else 0)
