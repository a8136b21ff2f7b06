#!/usr/bin/env bash
# e2e: `fatsim simulate` on a loopback accelerator (bit-exact, per-layer
# cycles, engine faults), `fatsim faults list` on both architectures.
set -u
fatsim=$1
src=$2
source "$(dirname "$0")/lib.sh"

"$fatsim" model random -t "$src/models/cnv_w1a1.yaml" --width 0.25 --seed 3 -o "$tmp/q.fatq" >/dev/null
lb="$src/models/accel/cnv_w1a1_quarter_loopback.yaml"
out=$("$fatsim" simulate --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --images 2 --check-layers 2>&1); rc=$?
check "loopback simulate: exit 0" test $rc -eq 0
check "loopback simulate: every layer identical" contains "$out" "2/2 images with identical class scores, every layer identical"
check "loopback simulate: per-layer cycles" contains "$out" "compute   wgt_load    fm_load   fm_store      stall      total"
check "loopback simulate: formula" contains "$out" "11110 cycles per image (formula)"
out=$("$fatsim" simulate --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --images 2 --json 2>&1)
check "loopback simulate --json" contains "$out" '"cycles_per_image": 11110'

out=$("$fatsim" simulate --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --images 1 --fault 'engine.pe[3].acc.bit[9]:sa1' 2>&1); rc=$?
check "loopback fault: exit 0" test $rc -eq 0
check "loopback fault: named" contains "$out" "fault     engine.pe[3].acc.bit[9]:sa1"
out=$("$fatsim" simulate --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --images 1 --fault 'conv1.pe[3].acc.bit[9]:sa1' 2>&1); rc=$?
check "loopback fault on a layer name: exit 1" test $rc -eq 1
check "loopback fault on a layer name: rule" contains "$out" "names its sites 'engine'"

out=$("$fatsim" faults list --accel "$src/models/accel/cnv_w1a1_loopback.yaml" 2>&1); rc=$?
check "faults list loopback: exit 0" test $rc -eq 0
check "faults list loopback: fmbuf" contains "$out" "fmbuf         1572864  engine.fmbuf[BUFFER].word[WORD].bit[BIT]"
check "faults list loopback: total" contains "$out" "total         2703392"
out=$("$fatsim" faults list --accel "$src/models/accel/cnv_w1a1_quarter.yaml" --model "$tmp/q.fatq" 2>&1)
check "faults list dataflow: fifo" contains "$out" "fifo             7136  fifo[FIFO].slot[SLOT].bit[BIT]"
n=$("$fatsim" faults list --accel "$src/models/accel/cnv_w1a1_loopback.yaml" --class cmp | wc -l)
check "faults list --class cmp: 32 sites" test "$n" -eq 32
out=$("$fatsim" faults list --accel "$src/models/accel/cnv_w1a1_loopback.yaml" --class nope 2>&1); rc=$?
check "faults list bad class: exit 2" test $rc -eq 2

echo "$fails failed"
test $fails -eq 0
