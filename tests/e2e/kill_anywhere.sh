#!/usr/bin/env bash
# e2e: a resumable command killed with SIGKILL at pseudo-random points (fixed
# seed), many times in a row, each time resumed, ends with outputs
# byte-identical to an uninterrupted run; after every kill, each file of the
# killed run's folder that the finished run also has is either identical to
# it or still growing (faults.csv, resumed from its last complete row):
# nothing partial under a final name.
#
# Args: path to fatsim, source dir, the command: campaign (default),
# map-faults or pipeline (needs the trainer). KILLS (default 10; 6 for the
# pipeline, whose runs train) and SEED (default 15) change the number and
# the points of the kills.
set -euo pipefail
FATSIM=${1:?usage: kill_anywhere.sh path/to/fatsim SOURCE_DIR [campaign|map-faults|pipeline]}
SRC=$(cd "${2:?}" && pwd)
WHAT=${3:-campaign}
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
output: out
threads: 2
seed: 3
YAML
  cmd=("$FATSIM" campaign "$T/spec.yaml" -o "$T/out" -q)
  ;;
map-faults)
  # The quarter-width CNV's thresholds, adder nodes and compares, all of
  # them: about 20,000 faults on 4 random images.
  "$FATSIM" model random --topology "$SRC/models/cnv_w1a1.yaml" --width 0.25 --seed 5 --out "$T/m.fatq" >/dev/null
  cmd=("$FATSIM" map-faults --accel "$SRC/models/accel/cnv_w1a1_quarter.yaml" --model "$T/m.fatq"
       --classes thr,adder,cmp --all --random-inputs 3 --images 4 --threads 2 --no-progress -o "$T/out")
  ;;
pipeline)
  needs_data
  # The smallest spec with every step: two epochs (a kill between them
  # resumes training from the checkpoint), two models trained at once (each
  # in its own process, which dies with the pipeline), tiny campaigns.
  cat > "$T/spec.yaml" <<YAML
name: tiny
output: $T/out
topology: $SRC/models/cnv_w1a1.yaml
width: 0.25
dataset: {name: fashion-mnist, train_images: 100, test_images: 20}
train: {epochs: 2, batch: 50, seed: 3, threads: 2, parallel: 2}
models:
  - {label: SAT, mode: sat}
  - {label: FAT1, mode: fat1, p: 0.05}
campaigns: {channel_images: 10, pixel_images: 5}
YAML
  cmd=("$FATSIM" pipeline "$T/spec.yaml")
  skip='^checkpoints/'
  kills=6
  # Wall times: "seconds" in the training records, the s/epoch column and
  # the run time line of report.md.
  normalize() {
    case "$1" in
    *models/*.json) sed -E 's/("seconds(_per_epoch)?": )[0-9.e+-]+/\1T/' "$1" ;;
    *report.md) sed -E 's/(invocation: )[0-9.]+ s/\1T s/; s/^(\| [^|]+ \| (sat|fat1|fat2|dropout2d) \| [^|]+ \| [0-9.]+ \| )[0-9.]+ \|/\1T |/' "$1" ;;
    *) cat "$1" ;;
    esac
  }
  ;;
*) echo "unknown command $WHAT"; exit 2 ;;
esac

KILLS=${KILLS:-${kills:-10}}
files_of() { (cd "$1" && find . -type f | sed 's|^\./||' | grep -v -- "$skip" | sort); }
same() { cmp -s <(normalize "$T/full/$1") <(normalize "$T/out/$1"); }
# Progress of a run: its files plus the rows of its CSVs (0: nothing yet).
progress() {
  if [ -d "$1" ]; then
    # (a scratch file may be renamed away between find and cat)
    echo $(( $(find "$1" -type f | wc -l) + $(find "$1" -name '*.csv' -exec cat {} + 2>/dev/null | wc -l) ))
  else echo 0; fi
}

now_ms() { date +%s%3N; }
# The uninterrupted run, its progress noted every 0.2 s ("ms progress" lines).
start=$(now_ms)
"${cmd[@]}" >/dev/null 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do echo "$(( $(now_ms) - start )) $(progress "$T/out")"; sleep 0.2; done >"$T/timeline"
wait "$pid" || { echo "FAIL: the uninterrupted run failed: ${cmd[*]}"; exit 1; }
span=$(( $(now_ms) - start ))
start=$(now_ms)
"${cmd[@]}" >/dev/null 2>&1  # all done: start-up and the last steps only
startup=$(( $(now_ms) - start ))
final=$(progress "$T/out")
mv "$T/out" "$T/full"
echo "$WHAT: uninterrupted run ${span} ms (${startup} ms start-up), progress $final (files + CSV rows)"

# Kill points, chosen on the uninterrupted run's timeline so that they do
# not depend on the machine's speed: a random moment between where that run
# had the current progress and where it had all of it. When the progress
# grew by then, the kill comes as soon as the resumed run has grown as much
# (a run midway, at whatever point of its work it is); otherwise (start-up,
# an epoch of training) after that much time. Once a run has finished, one
# kill hits its rerun (which redoes the last steps) and the next round
# starts from nothing.
elapsed_at() { awk -v p="$1" '$2 >= p { print $1; exit }' "$T/timeline"; }  # first ms with progress >= p
progress_at() { awk -v t="$1" '$1 <= t { q = $2 } END { print q + 0 }' "$T/timeline"; }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
done_at=$(elapsed_at "$final")
done_at=${done_at:-$span}
midway=0
p=0
for k in $(seq 1 "$KILLS"); do
  if [ "$p" -ge "$final" ]; then
    delay_ms=$(( (RANDOM * 32768 + RANDOM) % (startup + 1) ))
    how="rerun after ${delay_ms} ms"
    "${cmd[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep_ms "$delay_ms"
  else
    from=$(elapsed_at "$p")
    from=${from:-$done_at}
    at=$(( from + (RANDOM * 32768 + RANDOM) % (done_at > from ? done_at - from : 1) ))
    q=$(progress_at "$at")
    "${cmd[@]}" >/dev/null 2>&1 &
    pid=$!
    if [ "$q" -gt "$p" ]; then
      how="at progress $q"
      while kill -0 "$pid" 2>/dev/null && [ "$(progress "$T/out")" -lt "$q" ]; do sleep 0.05; done
    else
      # After that much time, or as soon as the run grows past p, whichever
      # comes first: a loaded first run (slow start-up) must not push the
      # kill past the end of a faster resumed one.
      delay_ms=$(( startup / 2 + at - from ))
      how="after ${delay_ms} ms or progress > $p"
      t0=$(now_ms)
      while kill -0 "$pid" 2>/dev/null && [ $(( $(now_ms) - t0 )) -lt "$delay_ms" ] &&
            [ "$(progress "$T/out")" -le "$p" ]; do sleep 0.05; done
    fi
  fi
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  p=$(progress "$T/out")
  echo "kill $k $how: progress $p"
  if [ "$p" -gt 0 ] && [ "$p" -lt "$final" ]; then midway=$((midway + 1)); fi
  if [ -d "$T/out" ]; then
    while read -r f; do
      [ -f "$T/full/$f" ] || continue
      grep -qx -- "$growing" <<<"$(basename "$f")" && continue
      same "$f" || { echo "FAIL: kill $k left $f, which differs from the uninterrupted run's"; exit 1; }
    done < <(files_of "$T/out")
  fi
  if [ "$p" -ge "$final" ] && [[ $how == rerun* ]]; then rm -rf "$T/out"; p=0; echo "   new round"; fi
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
