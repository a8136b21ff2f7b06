#!/usr/bin/env bash
# e2e: `fatsim campaign --shard K/N` + `fatsim merge` give the faults.csv,
# manifest.json and summary.json of a single-process run, byte for byte;
# merge refuses a missing shard, an incomplete one and another campaign's.
set -euo pipefail
FATSIM=${1:?usage: shard_merge.sh path/to/fatsim SOURCE_DIR}
SRC=${2:?}
source "$(dirname "$0")/lib.sh"
"$FATSIM" model random --topology "$SRC/models/cnv_w1a1.yaml" --width 0.25 --seed 2 --out "$T/m.fatq" >/dev/null
cat > "$T/spec.yaml" <<YAML
model: m.fatq
dataset: {images: 200}
error_model: channel
layers: [conv0, conv1, conv2]
output: full
threads: 2
YAML
"$FATSIM" campaign "$T/spec.yaml" -q >/dev/null
for k in 0 1 2; do "$FATSIM" campaign "$T/spec.yaml" -o "$T/sh" --shard "$k/3" -q >/dev/null; done
[ -f "$T/sh/shard-1-of-3/faults.csv" ] || { echo "FAIL: no shard folder"; exit 1; }
merges_to_same "$T/sh" "$T/full"
# A complete shard run again resumes with nothing to do.
"$FATSIM" campaign "$T/spec.yaml" -o "$T/sh" --shard 1/3 -q | grep -q "resumed after" || { echo "FAIL: shard resume"; exit 1; }
expect_error "shard 1/3 is missing" "$FATSIM" merge "$T/sh/shard-0-of-3" "$T/sh/shard-2-of-3" -o "$T/m3"
expect_error "shard 1/3 is given twice" "$FATSIM" merge "$T/sh/shard-0-of-3" "$T/sh/shard-1-of-3" "$T/sh/shard-1-of-3" -o "$T/m3"
cp -r "$T/sh/shard-1-of-3" "$T/torn"
head -n 3 "$T/sh/shard-1-of-3/faults.csv" > "$T/torn/faults.csv"
expect_error "is incomplete" "$FATSIM" merge "$T/sh/shard-0-of-3" "$T/torn" "$T/sh/shard-2-of-3" -o "$T/m3"
"$FATSIM" campaign "$T/spec.yaml" -o "$T/other" --images 100 --shard 1/3 -q >/dev/null
expect_error "a shard of another campaign" "$FATSIM" merge "$T/sh/shard-0-of-3" "$T/other/shard-1-of-3" "$T/sh/shard-2-of-3" -o "$T/m3"
expect_error "at most that many shards" "$FATSIM" campaign "$T/spec.yaml" -o "$T/x" --values 0 --layers conv0 --shard 0/17
expect_error "must be K/N" "$FATSIM" campaign "$T/spec.yaml" -o "$T/x" --shard 3/3
echo "PASS"
