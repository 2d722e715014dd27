"""`azstream bench`: option errors, which rows each --read gives, the host probes, and the
table's arithmetic (speed-up = rate / first row's per-worker rate, efficiency = speed-up /
workers, the per-sweep median inside its range). Timings themselves are not checked: a
benchmark measures, a test does not time. Usage: check_bench.py AZSTREAM DATA_DIR WORK_DIR"""
import os
import re
import subprocess
import sys

exe, data, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
poni = os.path.join(data, "real/poni/ssrl_Pilatus300kw_LaB6.poni")  # a small detector: quick
stack = os.path.join(work, "bench.h5")
failures = []


def run(args, code, *needles):
    r = subprocess.run([exe] + args, capture_output=True, text=True)
    ok = r.returncode == code and all(n in r.stdout + r.stderr for n in needles)
    print(("ok   " if ok else "FAIL ") + " ".join(args[:1] + args[2:8]) + f" -> {r.returncode}")
    if not ok:
        failures.append(f"{args}: exit {r.returncode} (want {code}, needles {needles}): "
                        f"{r.stdout[-2000:]!r} {r.stderr!r}")
    return r


run(["synth", "-o", stack, "--poni", poni, "--frames", "8"], 0)
common = [stack, "--poni", poni, "--layouts", "threads", "--frames", "8", "--npt", "200", "--seconds", "0.2"]
run(["bench"] + common + ["--read", "bogus"], 2, "--read")
run(["bench"] + common + ["--read", "self,"], 2, "--read")
run(["bench"] + common + ["--repeat", "0"], 2, "--repeat")
run(["bench"] + common + ["--workers", "1,x"], 2, "--workers")

row = re.compile(r"^(decode\+integrate alone|1 threads \(self-read\)|1 threads \(mapped\)|1 threads)\s+(\d+)\s+([\d.]+)\s+"
                 r"([\d.]+)x\s+(\d+)%\s+\S+\s+\S+\s+(\S+)(.*)$")


def rows(out):
    got = {}
    for line in out.splitlines():
        m = row.match(line)
        if m:
            got.setdefault(m.group(1), []).append(m)
    return got


r = run(["bench"] + common + ["--workers", "1,2", "--repeat", "3", "--read", "self"], 0,
        "clock (dependent adds): one core alone", "ALU throughput", "steal",
        "per-sweep efficiency")
got = rows(r.stdout)
if sorted(got) != ["1 threads (self-read)", "decode+integrate alone"]:
    failures.append(f"--read self: row kinds {sorted(got)}")
for kind, ms in got.items():
    if [int(m.group(2)) for m in ms] != [1, 2]:
        failures.append(f"{kind}: workers {[m.group(2) for m in ms]}")
        continue
    base = float(ms[0].group(3))
    for m in ms:
        w, fps, sp, eff = int(m.group(2)), float(m.group(3)), float(m.group(4)), int(m.group(5))
        if abs(sp - fps / base) > 0.006 or abs(eff - 100 * sp / w) > 1.01:
            failures.append(f"{kind} {w}: speed-up {sp} / efficiency {eff} do not follow from "
                            f"{fps} over {base}")
        if not re.fullmatch(r"\d+\.\d%", m.group(6)):
            failures.append(f"{kind} {w}: steal column {m.group(6)!r}")
        p = re.search(r"3 runs: ([\d.]+)\.\.([\d.]+); per-sweep efficiency (\d+)%, (\d+)\.\.(\d+)",
                      m.group(7))
        if not p:
            failures.append(f"{kind} {w}: no range / per-sweep efficiency: {m.group(7)!r}")
            continue
        lo, hi = float(p.group(1)), float(p.group(2))
        pe, plo, phi = (int(p.group(i)) for i in (3, 4, 5))
        if not (lo - 0.05 <= fps <= hi + 0.05 and plo <= pe <= phi):
            failures.append(f"{kind} {w}: median outside its range: {m.group(0)!r}")
        if w == 1 and (pe, plo, phi) != (100, 100, 100):
            failures.append(f"{kind} 1: a sweep's first row is its own reference: {m.group(0)!r}")

r = run(["bench"] + common + ["--workers", "2", "--read", "reader"], 0)
got = rows(r.stdout)
if sorted(got) != ["1 threads", "decode+integrate alone"]:
    failures.append(f"--read reader: row kinds {sorted(got)}")

r = run(["bench"] + common + ["--workers", "2", "--read", "map,reader"], 0)
got = rows(r.stdout)
if sorted(got) != ["1 threads", "1 threads (mapped)", "decode+integrate alone"]:
    failures.append(f"--read map,reader: row kinds {sorted(got)}")
r = run(["bench"] + common + ["--workers", "2", "--read", "all"], 0)
if len(rows(r.stdout)) != 4:
    failures.append(f"--read all: row kinds {sorted(rows(r.stdout))}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("bench options, rows and arithmetic: ok")
