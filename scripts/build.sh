#!/usr/bin/env bash
# Configures and builds fatsim in build/ (Release). Extra args go to make,
# e.g. scripts/build.sh fatsim to build only the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFATSIM_TRAINER="${FATSIM_TRAINER:-ON}" >/dev/null
cmake --build build -j "$jobs" -- "$@"
