#!/bin/bash
# Copy this worktree into /work/main/.gpu (the device tool sends /work/main only), keeping
# the carried extras there (deps/, nvcomp/, data/). No rsync on this machine.
set -e
dst=/work/main/.gpu
mkdir -p $dst
find $dst -mindepth 1 -maxdepth 1 ! -name deps ! -name nvcomp ! -name data -exec rm -rf {} +
cd /work/wt-gpu
git ls-files -z | xargs -0 cp --parents -t $dst
git ls-files -z --others --exclude-standard | grep -zv "^.venv$" | xargs -0 -r cp --parents -t $dst
