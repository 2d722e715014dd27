"""tests/data holds copies of files from the shared data folder (tests/data/README.md):
each copy must be byte for byte its original. Needs that folder (AZS_EXTENDED_DATA):
skipped (77) without it. Usage: check_data_copy.py TESTS_DATA EXTENDED_DATA"""
import filecmp
import os
import sys


def main():
    ours, ext = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
    if not ext or not os.path.isfile(os.path.join(ext, "README.md")):
        print("skip: no extended data folder (-DAZS_EXTENDED_DATA=DIR)")
        return 77
    n, bad = 0, []
    for root, _dirs, files in os.walk(os.path.join(ours, "real")):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), ours)
            n += 1
            orig = os.path.join(ext, rel)
            if not os.path.isfile(orig) or not filecmp.cmp(os.path.join(ours, rel), orig, shallow=False):
                bad.append(rel)
    print(f"{n} copied files, {len(bad)} differing from or missing in {ext}")
    for b in bad:
        print("  ", b)
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
