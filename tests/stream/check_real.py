"""The real DECTRIS Stream V2 messages of tests/data/stream2 decode (stream_tool: our
decoder and codec) to the reference values their README gives, which the reference
bitshuffle library and hdf5plugin produced: sum of the pixels below the dtype's maximum,
count of pixels at the maximum, first 16 hex digits of the SHA-256 of the C-order array.
Usage: check_real.py STREAM_TOOL DATA_DIR WORK_DIR"""
import hashlib
import os
import subprocess
import sys

import numpy as np

# (file, channel, codec, dtype, sum(<max), n_max, sha256[:16]) from the data's README
REFERENCE = [
    ("r500k_bslz4_16bit_000001.cbor", "threshold_1", "bslz4", "uint16", 909218, 0, "33943cd37dbea68f"),
    ("r500k_bslz4_16bit_000001.cbor", "threshold_2", "bslz4", "uint16", 908375, 0, "5f87160908688201"),
    ("r500k_bslz4_16bit_000001.cbor", "difference", "bslz4", "uint16", 305475, 194490, "6a360ea896b5ecce"),
    ("r500k_bslz4_32bit_000001.cbor", "threshold_1", "bslz4", "uint32", 7414309, 0, "f1904aa97c56c42c"),
    ("r500k_bslz4_32bit_000001.cbor", "threshold_2", "bslz4", "uint32", 7402644, 0, "205c05744c014f4f"),
    ("r500k_bslz4_32bit_000001.cbor", "difference", "bslz4", "uint32", 2469022, 254697, "5d62b7a53cd0ad81"),
    ("r500k_bslz4_8bit_000001.cbor", "threshold_1", "bslz4", "uint8", 908237, 0, "049233140663c642"),
    ("r500k_bslz4_8bit_000001.cbor", "threshold_2", "bslz4", "uint8", 909435, 0, "1a169b8ea11c91c8"),
    ("r500k_bslz4_8bit_000001.cbor", "difference", "bslz4", "uint8", 304003, 194994, "2e44c356e43e2e90"),
    ("r500k_lz4_16bit_000001.cbor", "threshold_1", "lz4", "uint16", 909298, 0, "990afd42381fecf1"),
    ("r500k_lz4_16bit_000001.cbor", "threshold_2", "lz4", "uint16", 909365, 0, "593ff2aa8eae7cd7"),
    ("r500k_lz4_16bit_000001.cbor", "difference", "lz4", "uint16", 304536, 194742, "5a9a08c5cd8471f7"),
]


def main():
    tool, data, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    bad = 0
    for name, chan, codec, dtype, ref_sum, ref_nmax, ref_sha in REFERENCE:
        out = os.path.join(work, f"{name}.{chan}.raw")
        r = subprocess.run([tool, os.path.join(data, name), chan, out], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {name} {chan}: {r.stderr.strip()}")
            bad += 1
            continue
        if f"{chan}: {codec} {dtype} (514, 1030)" not in r.stdout:
            print(f"FAIL {name} {chan}: described as {r.stdout.strip()!r}")
            bad += 1
        a = np.fromfile(out, dtype=np.dtype(dtype).newbyteorder("<")).reshape(514, 1030)
        top = np.iinfo(a.dtype).max
        got = (int(a[a < top].astype(np.uint64).sum()), int((a == top).sum()),
               hashlib.sha256(a.tobytes()).hexdigest()[:16])
        if got != (ref_sum, ref_nmax, ref_sha):
            print(f"FAIL {name} {chan}: {got} != {(ref_sum, ref_nmax, ref_sha)}")
            bad += 1
    r = subprocess.run([tool, os.path.join(data, "r500k_end.cbor")], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.startswith("end"):
        print(f"FAIL the end message: {r.stdout} {r.stderr}")
        bad += 1
    print(f"{len(REFERENCE)} channels, {bad} failures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
