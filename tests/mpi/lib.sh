# Shared by the scripts here (sourced, with MPIEXEC set where mpirun is used):
# a scratch folder $T removed on exit, the mpirun command line (as root too),
# and the checks every campaign kind needs.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
MPI=("${MPIEXEC:-mpirun}" --oversubscribe)
[ "$(id -u)" -ne 0 ] || MPI+=(--allow-run-as-root)
same() {  # same DIR_A DIR_B: the three result files agree byte for byte
  for f in faults.csv manifest.json summary.json; do
    cmp "$1/$f" "$2/$f" || { echo "FAIL: $f differs between $1 and $2"; exit 1; }
  done
}
# merges_to_same SHARDS FULL: the 3 shard folders in SHARDS hold FULL's rows
# (each slice non-empty, disjoint), and `fatsim merge` gives FULL's files,
# merged in place and (shard folders named one by one, in any order) elsewhere.
merges_to_same() {
  local rows=0 n k
  for k in 0 1 2; do n=$(($(wc -l < "$1/shard-$k-of-3/faults.csv") - 1)); [ "$n" -gt 0 ]; rows=$((rows + n)); done
  [ "$rows" -eq $(($(wc -l < "$2/faults.csv") - 1)) ] || { echo "FAIL: shards hold $rows rows"; exit 1; }
  "$FATSIM" merge "$1" | grep -q "merged 3 shards: $rows faults" || { echo "FAIL: merge output"; exit 1; }
  same "$2" "$1"
  "$FATSIM" merge "$1/shard-2-of-3" "$1/shard-0-of-3" "$1/shard-1-of-3" -o "$1.m2" >/dev/null
  same "$2" "$1.m2"
}
expect_error() {  # expect_error TEXT CMD...: CMD fails and says TEXT
  local text=$1; shift
  set +e; ERR=$("$@" 2>&1); RC=$?; set -e
  [ "$RC" -ne 0 ] && echo "$ERR" | grep -qF "$text" || { echo "FAIL: expected '$text' from $*: $ERR"; exit 1; }
}
# kill_and_resume RANK OUTDIR RESUMED CMD...: CMD (writing OUTDIR) on 3 ranks,
# rank RANK SIGKILLing itself mid-run (a test hook in the MPI runner, so the
# kill cannot race a fast machine to the end), must fail, leaving rows but no
# summary; CMD again on 2 ranks resumes (prints a line matching RESUMED).
kill_and_resume() {
  local rank=$1 out=$2 resumed=$3; shift 3
  FATSIM_MPI_TEST_DIE_RANK=$rank "${MPI[@]}" -x FATSIM_MPI_TEST_DIE_RANK -n 3 "$@" >/dev/null 2>&1 \
    && { echo "FAIL: run with rank $rank killed exited 0"; exit 1; }
  [ ! -f "$out/summary.json" ] || { echo "FAIL: run killed on rank $rank left a summary"; exit 1; }
  local rows
  rows=$(wc -l < "$out/faults.csv")
  [ "$rows" -ge 2 ] || { echo "FAIL: run killed on rank $rank wrote no row"; exit 1; }
  OUT=$("${MPI[@]}" -n 2 "$@")
  echo "$OUT" | grep -q "$resumed" || { echo "FAIL: no resume after killing rank $rank: $OUT"; exit 1; }
  echo "killed rank $rank at $rows lines: resumed"
}
