#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test.
# Extra args go to ctest, e.g. scripts/test.sh -L unit for the quick ones.
# FATSIM_TRAINER=OFF builds and tests without LibTorch; FATSIM_BUILD_DIR
# picks the build folder (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh
cd "${FATSIM_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@"
