#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test.
# Extra args go to ctest, e.g. scripts/test.sh -L unit for the quick ones.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@"
