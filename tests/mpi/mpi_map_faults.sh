#!/usr/bin/env bash
# mpi: `mpirun -n 2|3 fatsim map-faults` writes faults.csv, manifest.json and
# summary.json identical (cmp) to a single-process run; a run whose worker
# rank or rank 0 dies (SIGKILL) resumes to the same files.
set -euo pipefail
FATSIM=${1:?usage: mpi_map_faults.sh path/to/fatsim SOURCE_DIR MPIEXEC}
SRC=${2:?}
MPIEXEC=${3:-mpirun}
source "$(dirname "$0")/lib.sh"
"$FATSIM" model random --topology "$SRC/models/cnv_w1a1.yaml" --width 0.25 --seed 1 --out "$T/q.fatq" >/dev/null
MAP=("$FATSIM" map-faults --accel "$SRC/models/accel/cnv_w1a1_quarter.yaml" --model "$T/q.fatq" --random-inputs 1
     --images 4 --sample 200 --flips 20 --no-progress --threads 1)
"${MAP[@]}" -o "$T/one" >/dev/null
for n in 2 3; do
  OUT=$("${MPI[@]}" -n $n "${MAP[@]}" -o "$T/r$n")
  echo "$OUT" | grep -q "on $n MPI ranks" || { echo "FAIL: $n ranks not used: $OUT"; exit 1; }
  same "$T/one" "$T/r$n"
  echo "$n ranks: identical"
done
# A run killed on a worker rank, and one killed on rank 0, resume.
kill_and_resume 1 "$T/k1" "([1-9][0-9]* resumed)" "${MAP[@]}" -o "$T/k1"
same "$T/one" "$T/k1"
kill_and_resume 0 "$T/k0" "([1-9][0-9]* resumed)" "${MAP[@]}" -o "$T/k0"
same "$T/one" "$T/k0"
echo "PASS"
