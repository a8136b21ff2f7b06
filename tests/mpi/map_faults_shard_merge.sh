#!/usr/bin/env bash
# e2e: `fatsim map-faults --shard K/N` + `fatsim merge` give the faults.csv,
# manifest.json and summary.json of a single-process run, byte for byte
# (merge relabels run / reused across shards; static collapsing crosses them).
set -euo pipefail
FATSIM=${1:?usage: map_faults_shard_merge.sh path/to/fatsim SOURCE_DIR}
SRC=${2:?}
source "$(dirname "$0")/lib.sh"
"$FATSIM" model random --topology "$SRC/models/cnv_w1a1.yaml" --width 0.25 --seed 1 --out "$T/q.fatq" >/dev/null
map() {  # map ARGS...: a tiny sampled map-faults run with transient flips
  "$FATSIM" map-faults --accel "$SRC/models/accel/cnv_w1a1_quarter.yaml" --model "$T/q.fatq" --random-inputs 1 \
    --images 4 --sample 200 --flips 20 --no-progress --threads 1 "$@"
}
map -o "$T/one" >/dev/null
for k in 0 1 2; do map -o "$T/sh" --shard "$k/3" >/dev/null; done
merges_to_same "$T/sh" "$T/one"
# A complete shard run again resumes with nothing to do; a missing shard is refused.
map -o "$T/sh" --shard 1/3 | grep -q "map-faults: \([0-9]*\) faults (\1 resumed)" || { echo "FAIL: shard resume"; exit 1; }
expect_error "shard 1/3 is missing" "$FATSIM" merge "$T/sh/shard-0-of-3" "$T/sh/shard-2-of-3" -o "$T/m3"
expect_error "must be K/N" map -o "$T/x" --shard 3/3
echo "PASS"
