#!/usr/bin/env bash
# e2e: a resumable command killed with SIGKILL at pseudo-random points (fixed
# seed), many times in a row, each time resumed, ends with outputs
# byte-identical to an uninterrupted run; after every kill, each file of the
# killed run's folder that the finished run also has is either identical to
# it or still growing (faults.csv, resumed from its last complete row):
# nothing partial under a final name.
#
# Args: path to fatsim, source dir, the command: campaign (default),
# map-faults or pipeline (needs the trainer). KILLS (default 10) and SEED
# (default 15) change the number and the points of the kills.
set -euo pipefail
FATSIM=${1:?usage: kill_anywhere.sh path/to/fatsim SOURCE_DIR [campaign|map-faults|pipeline]}
SRC=${2:?}
WHAT=${3:-campaign}
KILLS=${KILLS:-10}
RANDOM=${SEED:-15}  # seeds bash's generator: the same kill points every run
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
needs_data() { if [ ! -d /usr/share/datasets/fashion-mnist ]; then echo "skip: Fashion-MNIST not installed"; exit 0; fi; }

# Per command: cmd runs it (or resumes it) with its results in $T/out (the
# same folder every time: outputs may name their paths; the finished run
# then moves to $T/full);
# growing: files that fill up row by row; normalize FILE: the bytes compared
# (the file itself, or for files with timings in them the file without them).
growing='faults.csv'
skip='^$'  # files not compared (intermediate state)
normalize() { cat "$1"; }
case "$WHAT" in
campaign)
  needs_data
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
  cmd=("$FATSIM" campaign "$T/spec.yaml" -o "$T/out" -q)
  ;;
map-faults)
  # The quarter-width CNV's thresholds, adder nodes and compares, all of
  # them: about 20,000 faults, five blocks of rows, on 4 random images.
  "$FATSIM" model random --topology "$SRC/models/cnv_w1a1.yaml" --width 0.25 --seed 5 --out "$T/m.fatq" >/dev/null
  cmd=("$FATSIM" map-faults --accel "$SRC/models/accel/cnv_w1a1_quarter.yaml" --model "$T/m.fatq"
       --classes thr,adder,cmp --all --random-inputs 3 --images 4 --threads 2 --no-progress -o "$T/out")
  ;;
pipeline)
  needs_data
  # The smallest spec with every step: two epochs (a kill between them
  # resumes training from the checkpoint), one model, tiny campaigns.
  cat > "$T/spec.yaml" <<YAML
name: tiny
output: $T/out
topology: $SRC/models/cnv_w1a1.yaml
width: 0.25
dataset: {name: fashion-mnist, train_images: 200, test_images: 40}
train: {epochs: 2, batch: 50, seed: 3, threads: 2}
models:
  - {label: SAT, mode: sat}
campaigns: {channel_images: 20, pixel_images: 10}
YAML
  cmd=("$FATSIM" pipeline "$T/spec.yaml")
  skip='^checkpoints/'
  # Wall times: "seconds" in the training records, the s/epoch column and
  # the run time line of report.md.
  normalize() {
    case "$1" in
    *models/*.json) sed -E 's/("seconds(_per_epoch)?": )[0-9.e+-]+/\1T/' "$1" ;;
    *report.md) sed -E 's/(invocation: )[0-9.]+ s/\1T s/; s/^(\| [^|]+ \| [a-z0-9]+ \| [^|]+ \| [0-9.]+ \| )[0-9.]+ \|/\1T |/' "$1" ;;
    *) cat "$1" ;;
    esac
  }
  ;;
*) echo "unknown command $WHAT"; exit 2 ;;
esac

files_of() { (cd "$1" && find . -type f | sed 's|^\./||' | grep -v -- "$skip" | sort); }
same() { cmp -s <(normalize "$T/full/$1") <(normalize "$T/out/$1"); }
# Progress of a run: its files plus the rows of its CSVs (0: nothing yet).
progress() {
  if [ -d "$1" ]; then
    echo $(( $(find "$1" -type f | wc -l) + $(find "$1" -name '*.csv' -exec cat {} + | wc -l) ))
  else echo 0; fi
}

now_ms() { date +%s%3N; }
start=$(now_ms)
"${cmd[@]}" >/dev/null 2>&1
span=$(( $(now_ms) - start ))
start=$(now_ms)
"${cmd[@]}" >/dev/null 2>&1  # all done: start-up and the last steps only
startup=$(( $(now_ms) - start ))
work=$(( span > startup ? span - startup : 1 ))
final=$(progress "$T/out")
mv "$T/out" "$T/full"
echo "$WHAT: uninterrupted run ${span} ms (${startup} ms start-up), progress $final (files + CSV rows)"

# Kill points from halfway through the start-up to the end of the work still
# left (estimated from the progress): some kills hit the start-up, most a run
# midway, and the resumed runs get further and further.
midway=0
p=0
for k in $(seq 1 "$KILLS"); do
  left=$(( work * (final - p) / final ))
  delay_ms=$(( startup / 2 + (RANDOM * 32768 + RANDOM) % (startup / 2 + left + 1) ))
  "${cmd[@]}" >/dev/null 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  p=$(progress "$T/out")
  echo "kill $k after ${delay_ms} ms: progress $p"
  if [ "$p" -gt 0 ] && [ "$p" -lt "$final" ]; then midway=$((midway + 1)); fi
  if [ -d "$T/out" ]; then
    while read -r f; do
      [ -f "$T/full/$f" ] || continue
      grep -qx -- "$growing" <<<"$(basename "$f")" && continue
      same "$f" || { echo "FAIL: kill $k left $f, which differs from the uninterrupted run's"; exit 1; }
    done < <(files_of "$T/out")
  fi
done

# Enough kills must have hit a run midway, or the test tests nothing.
[ "$midway" -ge $((KILLS / 3)) ] || { echo "FAIL: only $midway of $KILLS kills hit an unfinished run"; exit 1; }
"${cmd[@]}" >/dev/null 2>&1
diff <(files_of "$T/full") <(files_of "$T/out") || { echo "FAIL: not the same files"; exit 1; }
n=0
while read -r f; do
  same "$f" || { echo "FAIL: $f differs after $KILLS kills and resumes"; exit 1; }
  n=$((n + 1))
done < <(files_of "$T/full")
echo "PASS: $WHAT: $KILLS kills ($midway midway), resumed to $n byte-identical files"
