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

# --vcd on a loopback engine: the sequencer's registers with value changes.
out=$("$fatsim" simulate --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --images 1 --vcd "$tmp/lb.vcd" 2>&1); rc=$?
check "loopback --vcd: exit 0" test $rc -eq 0
vcd_id() { awk -v n="$1" '$1 == "$var" && $5 == n { print $4; exit }' "$tmp/lb.vcd"; }
vcd_values() {  # the distinct values signal $1 takes, in the order it first takes them (decimal)
    local id; id=$(vcd_id "$1")
    [ -n "$id" ] && awk -v id="$id" '$1 ~ /^b/ && $2 == id { v = 0; s = substr($1, 2);
        for (i = 1; i <= length(s); ++i) v = 2 * v + substr(s, i, 1); if (!(v in seen)) { seen[v]; printf "%d ", v } }' "$tmp/lb.vcd"
}
for sig in engine_layer engine_phase engine_busy engine_nf engine_sf mem_weight_cycles mem_ifm_cycles mem_ofm_cycles fmbuf0_words fmbuf1_writes; do
    check "loopback --vcd: $sig traced" test -n "$(vcd_id $sig)"
done
check "loopback --vcd: layer sequence 0..8" test "$(vcd_values engine_layer)" = "0 1 2 3 4 5 6 7 8 "
check "loopback --vcd: phases params ifm compute wait store" test "$(vcd_values engine_phase)" = "0 1 2 4 3 "
check "loopback --vcd: no unknown values" test "$(grep -c '^[bx]*x' "$tmp/lb.vcd")" -eq 0
check "loopback --vcd: engine busy toggles" test "$(awk -v id="$(vcd_id engine_busy)" '$0 == "1" id' "$tmp/lb.vcd" | wc -l)" -eq 9
check "loopback --vcd: fm store cycles counted" test "$(vcd_values mem_ofm_cycles | wc -w)" -gt 9

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

# Schedule pixel on the dataflow architecture: bit-exact, the pixel-group
# cycles, the lowering (stuck-at and transient flips) agrees with the cycle model.
px="$src/models/accel/cnv_w1a1_quarter_pixel.yaml"
out=$("$fatsim" simulate --accel "$px" --model "$tmp/q.fatq" --random-inputs 1 --images 2 --check-layers 2>&1); rc=$?
check "dataflow pixel simulate: exit 0" test $rc -eq 0
check "dataflow pixel: every layer identical" contains "$out" "2/2 images with identical class scores, every layer identical"
check "dataflow pixel: conv4 ceil(9/2)*64*18 cycles" matches "$out" "conv4 .* 5760 .* 5760 "
out=$("$fatsim" map-faults --accel "$px" --model "$tmp/q.fatq" --random-inputs 1 --images 1 --verify 6 2>&1); rc=$?
check "dataflow pixel map-faults --verify: exit 0" test $rc -eq 0
check "dataflow pixel map-faults --verify: 6 classes at 100 %" test "$(grep -c ' 6        6    100.0%' <<<"$out")" -eq 6
out=$("$fatsim" map-faults --accel "$px" --model "$tmp/q.fatq" --random-inputs 1 --images 1 --verify 4 --flips 4 2>&1); rc=$?
check "dataflow pixel map-faults --verify --flips: exit 0" test $rc -eq 0
check "dataflow pixel map-faults --verify --flips: 6 classes at 100 %" test "$(grep -c ' 8        8    100.0%' <<<"$out")" -eq 6

echo "$fails failed"
test $fails -eq 0
