#!/usr/bin/env bash
# make demo: a sample Eiger-like stack, integrated, with what it did and how fast.
set -euo pipefail
build=${1:-build}
az=$build/azstream
mkdir -p out
echo "== azstream demo (not yet complete: the integration commands land with their issues)"
$az --help
