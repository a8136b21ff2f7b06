#!/usr/bin/env bash
# e2e: `fatsim campaign` killed with SIGKILL at pseudo-random points (fixed
# seed), many times in a row, each time resumed, ends with outputs
# byte-identical to an uninterrupted run; a killed run never leaves a
# summary or a partial file under a final name.
#
# TODO: the same for `fatsim map-faults` once that command exists (it is being
# written), and for `fatsim pipeline` (needs the trainer; with training in it
# even a tiny spec runs for minutes, too long for ten kills here).
#
# Args: path to fatsim, source dir. KILLS (default 10) and SEED (default 15)
# change the number and the points of the kills.
set -euo pipefail
FATSIM=${1:?usage: kill_anywhere.sh path/to/fatsim SOURCE_DIR}
SRC=${2:?}
KILLS=${KILLS:-10}
RANDOM=${SEED:-15}  # seeds bash's generator: the same kill points every run
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ ! -d /usr/share/datasets/fashion-mnist ]; then echo "skip: Fashion-MNIST not installed"; exit 0; fi

"$FATSIM" model random --topology "$SRC/models/cnv_w1a1.yaml" --width 0.25 --seed 5 --out "$T/m.fatq" >/dev/null
cat > "$T/spec.yaml" <<YAML
model: m.fatq
dataset: {images: 500}
error_model: channel
layers: [conv0, conv1]
values: all
output: full
threads: 2
seed: 3
YAML

now_ms() { date +%s%3N; }
start=$(now_ms)
"$FATSIM" campaign "$T/spec.yaml" -q >/dev/null
span=$(( $(now_ms) - start ))
start=$(now_ms)
"$FATSIM" campaign "$T/spec.yaml" -q >/dev/null  # all done: start-up and summary only
startup=$(( $(now_ms) - start ))
work=$(( span > startup ? span - startup : 1 ))
lines=$(wc -l < "$T/full/faults.csv")
echo "uninterrupted run: ${span} ms (${startup} ms start-up), $((lines - 1)) faults"

rows() { if [ -f "$T/killed/faults.csv" ]; then wc -l < "$T/killed/faults.csv"; else echo 0; fi; }
# Kill points from halfway through the start-up to a fifth of the faults'
# time after it: some kills hit the start-up, most a run midway, and each
# resumed run gets a little further.
midway=0
for k in $(seq 1 "$KILLS"); do
  delay_ms=$(( startup / 2 + (RANDOM * 32768 + RANDOM) % (startup / 2 + work / 5 + 1) ))
  "$FATSIM" campaign "$T/spec.yaml" -o "$T/killed" -q >/dev/null 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "kill $k after ${delay_ms} ms: $(rows) lines in faults.csv"
  r=$(rows)
  if [ "$r" -gt 1 ] && [ "$r" -lt "$lines" ]; then midway=$((midway + 1)); fi
  if [ -f "$T/killed/summary.json" ] && ! cmp -s "$T/full/summary.json" "$T/killed/summary.json"; then
    echo "FAIL: kill $k left a summary.json that differs from the uninterrupted run's"; exit 1
  fi
done

# Enough kills must have hit a run midway (some rows, not all), or the test
# tests nothing.
[ "$midway" -ge $((KILLS / 3)) ] || { echo "FAIL: only $midway of $KILLS kills hit an unfinished run"; exit 1; }
"$FATSIM" campaign "$T/spec.yaml" -o "$T/killed" -q >/dev/null
for f in faults.csv summary.json manifest.json; do
  cmp "$T/full/$f" "$T/killed/$f" || { echo "FAIL: $f differs after $KILLS kills and resumes"; exit 1; }
done
echo "PASS: $KILLS kills ($midway midway), resumed to byte-identical faults.csv, summary.json, manifest.json"
