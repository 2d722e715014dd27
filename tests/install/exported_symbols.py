"""libazstream.so exports exactly the functions that the public headers declare AZS_API:
none missing (a declaration without AZS_API, or a function never defined), none extra
(an internal function leaking out of the hidden visibility)."""
import glob
import os
import re
import subprocess
import sys

lib, *include_dirs = sys.argv[1:]
declared = set()
for d in include_dirs:
    for h in glob.glob(os.path.join(d, "*.h")):
        text = open(h).read()
        declared |= set(re.findall(r"^AZS_API\b[^;(]*?\b(azs_\w+)\s*\(", text, re.M))
        # every function declared at file scope must carry AZS_API
        for m in re.finditer(r"^(?!AZS_API|typedef|static|#)[A-Za-z_][\w \*]*[ \*](azs_\w+)\(", text, re.M):
            print(f"{h}: {m.group(1)} declared without AZS_API")
            declared.add("missing-AZS_API:" + m.group(1))

nm = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True)
exported = set()
for line in nm.stdout.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in ("T", "W", "D", "B", "R", "V", "i"):
        exported.add(parts[2])

missing = sorted(declared - exported)
extra = sorted(s for s in exported - declared if not s.startswith("_"))
print(f"{len(declared)} functions declared AZS_API, {len(exported)} symbols exported")
for s in missing:
    print("declared, not exported:", s)
for s in extra:
    print("exported, not declared:", s)
sys.exit(1 if (missing or extra or not declared) else 0)
