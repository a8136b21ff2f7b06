#!/usr/bin/env bash
# mpi: `mpirun -n 2|3 fatsim campaign` writes faults.csv, manifest.json and
# summary.json identical (cmp) to a single-process run; a run whose worker
# rank or rank 0 dies (SIGKILL) resumes to the same files.
set -euo pipefail
FATSIM=${1:?usage: mpi_campaign.sh path/to/fatsim SOURCE_DIR MPIEXEC}
SRC=${2:?}
MPIEXEC=${3:-mpirun}
source "$(dirname "$0")/lib.sh"
"$FATSIM" model random --topology "$SRC/models/cnv_w1a1.yaml" --width 0.25 --seed 2 --out "$T/m.fatq" >/dev/null
cat > "$T/spec.yaml" <<YAML
model: m.fatq
dataset: {images: 200}
error_model: channel
layers: [conv0, conv1, conv2]
output: full
threads: 1
YAML
"$FATSIM" campaign "$T/spec.yaml" -q >/dev/null
for n in 2 3; do
  OUT=$("${MPI[@]}" -n $n "$FATSIM" campaign "$T/spec.yaml" -o "$T/r$n" -q)
  echo "$OUT" | grep -q "on $n MPI ranks" || { echo "FAIL: $n ranks not used: $OUT"; exit 1; }
  same "$T/full" "$T/r$n"
  echo "$n ranks: identical"
done
# A run killed on a worker rank, and one killed on rank 0, resume.
"$FATSIM" campaign "$T/spec.yaml" -o "$T/big" -q --images 1000 >/dev/null
kill_and_resume 1 "$T/k1" "resumed after" "$FATSIM" campaign "$T/spec.yaml" -o "$T/k1" -q --images 1000
same "$T/big" "$T/k1"
kill_and_resume 0 "$T/k0" "resumed after" "$FATSIM" campaign "$T/spec.yaml" -o "$T/k0" -q --images 1000
same "$T/big" "$T/k0"
echo "PASS"
