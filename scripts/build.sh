#!/usr/bin/env bash
# Configures and builds fatsim (Release) in build/, or in $FATSIM_BUILD_DIR.
# Extra args go to make, e.g. scripts/build.sh fatsim to build only the CLI.
# FATSIM_TRAINER=OFF builds without LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
dir=${FATSIM_BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DFATSIM_TRAINER="${FATSIM_TRAINER:-ON}" >/dev/null
cmake --build "$dir" -j "$jobs" -- "$@"
