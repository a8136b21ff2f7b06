#!/usr/bin/env bash
# e2e: `fatsim campaign` killed mid-run (SIGKILL) and resumed yields the same
# files as an uninterrupted run; bad specs fail with file, path and rule;
# `fatsim report` renders tables and a plot; `fatsim sweep` still works.
set -euo pipefail
FATSIM=${1:?usage: test_campaign_cli.sh path/to/fatsim SOURCE_DIR}
SRC=${2:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$FATSIM" model random --topology "$SRC/models/cnv_w1a1.yaml" --width 0.25 --seed 2 --out "$T/m.fatq" >/dev/null
cat > "$T/spec.yaml" <<YAML
model: m.fatq
dataset: {images: 300}
error_model: channel
layers: [conv0, conv1, conv2]
output: full
threads: 2
YAML
"$FATSIM" campaign "$T/spec.yaml" -q >/dev/null
# Same spec, another folder, killed after some rows were written, then resumed.
# On a busy machine the run may finish between two polls, or write no row
# before the poll gives up: such a try tests nothing and is repeated (a
# finished run's summary must then be complete, which the full run checks).
ROWS=0
for try in 1 2 3 4 5; do
  rm -rf "$T/killed"
  "$FATSIM" campaign "$T/spec.yaml" -o "$T/killed" -q >/dev/null 2>&1 &
  PID=$!
  for _ in $(seq 1 800); do
    [ -f "$T/killed/faults.csv" ] && [ "$(wc -l < "$T/killed/faults.csv")" -ge 20 ] && break
    sleep 0.01
  done
  kill -9 "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  [ -f "$T/killed/summary.json" ] && { echo "try $try: the run finished before the kill, again"; continue; }
  ROWS=$(wc -l < "$T/killed/faults.csv" 2>/dev/null || echo 0)
  [ "$ROWS" -ge 2 ] && break
  echo "try $try: killed before the first row, again"
done
[ "$ROWS" -ge 2 ] || { echo "FAIL: no try killed the run midway"; exit 1; }
OUT=$("$FATSIM" campaign "$T/spec.yaml" -o "$T/killed" -q)
echo "$OUT" | grep -q "resumed after" || { echo "FAIL: no resume ($ROWS rows before): $OUT"; exit 1; }
cmp "$T/full/faults.csv" "$T/killed/faults.csv" || { echo "FAIL: faults.csv differs after resume"; exit 1; }
cmp "$T/full/summary.json" "$T/killed/summary.json" || { echo "FAIL: summary.json differs after resume"; exit 1; }
echo "resume after kill at $ROWS lines: identical"
# Bad spec: every error, with file, path and rule; exit code 1.
printf 'model: m.fatq\nerror_model: stuck\nthreads: -2\nbogus: 1\n' > "$T/bad.yaml"
set +e
ERR=$("$FATSIM" campaign "$T/bad.yaml" 2>&1); RC=$?
set -e
[ "$RC" -ne 0 ] || { echo "FAIL: bad spec accepted"; exit 1; }
for e in "bad.yaml: output: required key missing" "bad.yaml: error_model=stuck must be one of channel, pixel" \
         "bad.yaml: threads=-2 must be in 0..1024" "bad.yaml: bogus: unknown key"; do
  echo "$ERR" | grep -qF "$e" || { echo "FAIL: missing error '$e' in: $ERR"; exit 1; }
done
# Report with two campaigns and a plot.
"$FATSIM" report "$T/full" "$T/killed" --plot "$T/fig" --format svg > "$T/report.txt"
grep -q "| conv1 | 16 |" "$T/report.txt" && grep -q "Table II/III" "$T/report.txt" && [ -s "$T/fig.svg" ] \
  || { echo "FAIL: report"; cat "$T/report.txt"; exit 1; }
# The demo's sweep command keeps its options.
"$FATSIM" sweep --model "$T/m.fatq" --layers conv4,fc0 --images 50 --csv "$T/s.csv" 2>/dev/null | grep -q "^conv4 "
echo "PASS"
