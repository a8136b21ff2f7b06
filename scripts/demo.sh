#!/usr/bin/env bash
# The main job on the built-in default (Fashion-MNIST): installs what is
# missing, builds the CLI, then runs the FAT paper's experiment end to end
# (campaigns/fashion_cnv.yaml): trains SAT, FAT method 1, FAT method 2 and
# Dropout2D models, runs channel and pixel stuck@ campaigns on each, traces
# selective channel replication, and writes out/report.md with plots.
# Finished steps are skipped on a second run; an interrupted run resumes.
# Extra args go to `fatsim pipeline` (e.g. --topology models/cnv_w2a2.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
export SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1
scripts/bootstrap.sh
echo "== building fatsim"
scripts/build.sh fatsim
build/sim/app/fatsim pipeline campaigns/fashion_cnv.yaml "$@"
