#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan) in build-fuzz/ (or
# $FATSIM_FUZZ_BUILD_DIR) and runs each for N seconds (default 30), starting
# from its seed corpus fuzz/corpus/<name>/. Fails when any target finds a
# crash, leak, timeout (> 10 s per input) or out-of-memory (> 2 GB); the
# input that triggered it is kept as <build>/artifacts/<target>-*.
# Usage: scripts/fuzz.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
dir=${FATSIM_FUZZ_BUILD_DIR:-build-fuzz}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DFATSIM_TRAINER=OFF \
      -DFATSIM_FUZZ=ON >/dev/null
cmake --build "$dir" -j "$jobs" --target fuzz_all

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for c in fuzz/corpus/*/; do targets+=("fuzz_$(basename "$c")"); done
fi
mkdir -p "$dir/artifacts"
failed=()
printf '%-20s %8s %10s %8s %6s\n' target seconds execs exec/s cov >"$dir/fuzz-summary.txt"
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  # fuzz_qonnx exists only in builds with QONNX (FATSIM_ONNX).
  if [ ! -x "$dir/fuzz/$t" ]; then echo "== $t: not built, skipped"; continue; fi
  work="$dir/corpus/$name"  # grows with what the fuzzer finds; the repo's seeds stay as they are
  mkdir -p "$work"
  log="$dir/$t.log"
  echo "== $t: ${seconds}s"
  if "$dir/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$dir/artifacts/$t-" "$work" "fuzz/corpus/$name" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    tail -n 40 "$log"
  fi
  # The last status line: "#N DONE cov: C ft: F corp: ... exec/s: E ..."
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  rate=$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$last")
  printf '%-20s %8s %10s %8s %6s %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$status" \
    | tee -a "$dir/fuzz-summary.txt"
done
echo "== summary"
cat "$dir/fuzz-summary.txt"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $dir/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no finding"
