#!/usr/bin/env bash
# End-to-end: the CLI as a user drives it. Args: path to fatsim, source dir.
set -u
fatsim=$1
src=$2
source "$(dirname "$0")/lib.sh"

out=$("$fatsim" --help); check "help lists commands" matches "$out" "Commands:"
out=$("$fatsim" eval --help); check "eval --help" matches "$out" "--model"

"$fatsim" model random --topology "$src/models/cnv_w1a1.yaml" --width 0.25 --seed 3 --out "$tmp/a.fatq" >/dev/null
"$fatsim" model random --topology "$src/models/cnv_w1a1.yaml" --width 0.25 --seed 3 --out "$tmp/b.fatq" >/dev/null
"$fatsim" model random --topology "$src/models/cnv_w1a1.yaml" --width 0.25 --seed 4 --out "$tmp/c.fatq" >/dev/null
check "same seed, same model file" cmp -s "$tmp/a.fatq" "$tmp/b.fatq"
check "other seed, other model file" test -n "$(cmp "$tmp/a.fatq" "$tmp/c.fatq" 2>&1)"
out=$("$fatsim" model info --model "$tmp/a.fatq"); check "info shows quarter width" matches "$out" "conv1    conv     144     16"

out=$("$fatsim" bench physical --model "$tmp/a.fatq" --accel "$src/models/accel/cnv_w1a1_quarter.yaml" \
    --classes acc,fifo --sites 4 --images 3 --threads 1 2>&1)
check "bench physical: a row per class with its MACs" matches "$out" "fifo  *4 .*x  *[0-9][0-9]*\.[0-9][0-9][0-9]$"
check "bench physical: the arithmetic floor" matches "$out" \
    "delta propagation of that campaign: [0-9.e+]* MACs; at this machine's XNOR-popcount peak ([0-9]* G/s on 1 threads"
out=$("$fatsim" bench physical --sites 0 2>&1); rc=$?
check "bench physical --sites 0: exit 2" test $rc -eq 2
check "bench physical --sites 0: the rule" matches "$out" "--sites must be at least 1"
out=$("$fatsim" bench engine --images -5 2>&1); rc=$?
check "bench engine --images -5: exit 2 and the rule" test $rc -eq 2 -a "$out" = "fatsim bench: --images must be at least 1"
out=$("$fatsim" bench fifo --images 2 2>&1); rc=$?
check "bench fifo --images 2: exit 2 and the rule" test $rc -eq 2 -a "$out" = "fatsim bench: --images must be at least 3"

if [ -d /usr/share/datasets/fashion-mnist ]; then
    out=$("$fatsim" eval --model "$tmp/a.fatq" --images 300 --json)
    check "eval --json counts images" matches "$out" '"images": 300'
    "$fatsim" sweep --model "$tmp/a.fatq" --layers conv5 --images 100 --csv "$tmp/s.csv" >/dev/null 2>&1
    # 64 channels x 2 values, plus the header.
    check "sweep writes one row per fault" test "$(wc -l <"$tmp/s.csv")" -eq 129
    out=$("$fatsim" replicate --model "$tmp/a.fatq" --sweep "$tmp/s.csv" --label A --images 100 --out "$tmp/rep" 2>&1)
    # k = 0..64 (the 64 swept channels), plus the header.
    check "replicate writes the curve" test "$(wc -l <"$tmp/rep/replication_A.csv")" -eq 66
    check "replicate answers the question" matches "$out" "channels to triplicate"
    check "replicate plots" test -s "$tmp/rep/replication.png"
    out=$("$fatsim" bench physical --model "$tmp/a.fatq" --accel "$src/models/accel/cnv_w1a1_quarter.yaml" \
        --classes thr --sites 2 --images 3 --threads 1 --dataset fashion-mnist 2>&1)
    check "bench physical --dataset: on test images" matches "$out" "3 fashion-mnist test images, 1 threads"
else
    echo "skip eval/sweep: Fashion-MNIST not installed"
fi

head -c 2000 "$tmp/a.fatq" >"$tmp/trunc.fatq"
out=$("$fatsim" eval --model "$tmp/trunc.fatq" 2>&1); rc=$?
check "truncated model: exit 1" test $rc -eq 1
check "truncated model: message names file" matches "$out" "trunc.fatq: not a fatsim model file or truncated"

printf 'architecture: dataflow\ntopology: %s/models/cnv_w1a1.yaml\nlayers:\n  - {name: conv0, pe: 7, simd: 3}\n' "$src" >"$tmp/bad.yaml"
out=$("$fatsim" config check "$tmp/bad.yaml" 2>&1); rc=$?
check "bad folding: exit 1" test $rc -eq 1
check "bad folding: rule named" matches "$out" "layers\[0\].pe=7 must divide mh=64"
check "bad folding: all errors reported" matches "$out" "must match the 9 layers"

out=$("$fatsim" eval --model 2>&1); rc=$?
check "usage error: exit 2" test $rc -eq 2

[ $fails -eq 0 ]
