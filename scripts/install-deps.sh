#!/usr/bin/env bash
# Installs what azstream needs on a fresh Debian machine, only what is missing:
#   Debian packages (build + MPI + clang for the fuzzers), then a Python venv in .venv with
#   the pinned reference packages (pyFAI, h5py, hdf5plugin, bitshuffle) used by tests and
#   benchmarks only. Idempotent and non-interactive.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config libhdf5-dev hdf5-tools liblz4-dev libcjson-dev libtiff-dev
      libopenmpi-dev openmpi-bin clang libclang-rt-14-dev python3-venv libzmq3-dev libcbor-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

req=tests/requirements.txt
stamp=.venv/.installed-$(sha256sum "$req" | cut -c1-16)
if [ ! -f "$stamp" ]; then
    echo "install-deps: python venv .venv from $req"
    python3 -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -r "$req"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
