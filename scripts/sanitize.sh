#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run of the unit, hw (and rtl,
# when present) tests, without the trainer, in build-asan/ (or
# $FATSIM_ASAN_BUILD_DIR). Any finding stops the test it occurs in and fails
# this script. Extra args go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
dir=${FATSIM_ASAN_BUILD_DIR:-build-asan}
export SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1
# detect_leaks: a leak fails the run too. SystemC switches stacks between its
# processes, which ASan's fake stacks (use-after-return) cannot follow.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=0:abort_on_error=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The Verilated RTL takes many minutes to compile instrumented; its C++ harness
# is checked in the Release run. FATSIM_ASAN_RTL=ON includes it.
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFATSIM_TRAINER=OFF -DFATSIM_SANITIZE=ON \
    -DFATSIM_RTL="${FATSIM_ASAN_RTL:-OFF}" >/dev/null
cmake --build "$dir" -j "$jobs"
labels=unit
[ -d tests/hw ] && labels="$labels|hw"
[ "${FATSIM_ASAN_RTL:-OFF}" = ON ] && labels="$labels|rtl"
cd "$dir"
ctest --output-on-failure -j "$jobs" -L "^($labels)\$" "$@"
