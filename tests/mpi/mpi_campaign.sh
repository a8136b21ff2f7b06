#!/usr/bin/env bash
# mpi: `mpirun -n 2|3 fatsim campaign` writes faults.csv, manifest.json and
# summary.json identical (cmp) to a single-process run; a run whose worker
# rank or rank 0 dies (SIGKILL) resumes to the same files.
set -euo pipefail
FATSIM=${1:?usage: mpi_campaign.sh path/to/fatsim SOURCE_DIR MPIEXEC}
SRC=${2:?}
MPIEXEC=${3:-mpirun}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
MPI=("$MPIEXEC" --oversubscribe)
[ "$(id -u)" -ne 0 ] || MPI+=(--allow-run-as-root)
"$FATSIM" model random --topology "$SRC/models/cnv_w1a1.yaml" --width 0.25 --seed 2 --out "$T/m.fatq" >/dev/null
cat > "$T/spec.yaml" <<YAML
model: m.fatq
dataset: {images: 200}
error_model: channel
layers: [conv0, conv1, conv2]
output: full
threads: 1
YAML
same() {
  for f in faults.csv manifest.json summary.json; do
    cmp "$1/$f" "$2/$f" || { echo "FAIL: $f differs between $1 and $2"; exit 1; }
  done
}
"$FATSIM" campaign "$T/spec.yaml" -q >/dev/null
for n in 2 3; do
  OUT=$("${MPI[@]}" -n $n "$FATSIM" campaign "$T/spec.yaml" -o "$T/r$n" -q)
  echo "$OUT" | grep -q "on $n MPI ranks" || { echo "FAIL: $n ranks not used: $OUT"; exit 1; }
  same "$T/full" "$T/r$n"
  echo "$n ranks: identical"
done
# One rank SIGKILLs itself mid-run (a test hook in the MPI runner, so the kill
# cannot race a fast machine to the end); the next run resumes.
kill_rank() {  # kill_rank RANK OUTDIR
  local rank=$1 out=$2
  FATSIM_MPI_TEST_DIE_RANK=$rank "${MPI[@]}" -x FATSIM_MPI_TEST_DIE_RANK -n 3 "$FATSIM" campaign "$T/spec.yaml" -o "$out" -q --images 1000 >/dev/null 2>&1 \
    && { echo "FAIL: run with rank $rank killed exited 0"; exit 1; }
  [ ! -f "$out/summary.json" ] || { echo "FAIL: run killed on rank $rank left a summary"; exit 1; }
  local rows
  rows=$(wc -l < "$out/faults.csv")
  [ "$rows" -ge 2 ] || { echo "FAIL: run killed on rank $rank wrote no row"; exit 1; }
  OUT=$("${MPI[@]}" -n 2 "$FATSIM" campaign "$T/spec.yaml" -o "$out" -q --images 1000)
  echo "$OUT" | grep -q "resumed after" || { echo "FAIL: no resume after killing rank $rank: $OUT"; exit 1; }
  echo "killed rank $rank at $rows lines: resumed"
}
"$FATSIM" campaign "$T/spec.yaml" -o "$T/big" -q --images 1000 >/dev/null
kill_rank 1 "$T/k1"
same "$T/big" "$T/k1"
kill_rank 0 "$T/k0"
same "$T/big" "$T/k0"
echo "PASS"
