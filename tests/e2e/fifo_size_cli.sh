#!/usr/bin/env bash
# e2e: `fatsim fifo-size` sizes the 1/4-width CNV folding to its bottleneck and
# writes a YAML and a FINN folding JSON that `config check` and `simulate`
# accept back at the same interval; `config export-finn` round-trips.
set -u
fatsim=$1
src=$2
source "$(dirname "$0")/lib.sh"
export SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1

"$fatsim" model random --topology "$src/models/cnv_w1a1.yaml" --width 0.25 --seed 4 --out "$tmp/q.fatq" >/dev/null
out=$("$fatsim" fifo-size --accel "$src/models/accel/cnv_w1a1_quarter.yaml" --model "$tmp/q.fatq" --random-inputs 1 \
      --images 4 --held-out 4 --out "$tmp/sized.yaml" --finn-json "$tmp/sized.json" 2>&1); rc=$?
check "fifo-size: exit 0" test $rc -eq 0
check "interval before and after" contains "$out" "configured 32,468, sized 32,400 cycles/image; bottleneck conv0 32,400"
check "held out" contains "$out" "4/4 with class scores identical to the golden engine"
check "wrote the YAML" contains "$out" "wrote $tmp/sized.yaml"
check "window stream sized" grep -q '^stream_depths: {conv0.swg: ' "$tmp/sized.yaml"
out=$("$fatsim" config check "$tmp/sized.yaml" "$tmp/sized.json" --topology "$src/models/cnv_w1a1.yaml" 2>&1); rc=$?
check "config check accepts both" test $rc -eq 0
for f in sized.yaml sized.json; do
    out=$("$fatsim" simulate --accel "$tmp/$f" --model "$tmp/q.fatq" --random-inputs 9 --images 4 --json 2>&1)
    check "simulate $f: bottleneck" contains "$out" '"steady_state_cycles_per_image": 32400'
done

# the shipped sized BNN-PYNQ foldings
out=$("$fatsim" config check "$src/models/accel/cnv_w1a1_bnnpynq_sized.yaml" \
      "$src/models/accel/cnv_w2a2_bnnpynq_sized.yaml" 2>&1); rc=$?
check "shipped sized foldings: config check" test $rc -eq 0
"$fatsim" model random --topology "$src/models/cnv_w1a1.yaml" --seed 4 --out "$tmp/w1a1.fatq" >/dev/null
out=$("$fatsim" simulate --accel "$src/models/accel/cnv_w1a1_bnnpynq_sized.yaml" --model "$tmp/w1a1.fatq" \
      --random-inputs 3 --images 4 --json 2>&1)
check "shipped sized W1A1: bottleneck" contains "$out" '"steady_state_cycles_per_image": 32768'

# export-finn: round trip, and what FINN cannot express
"$fatsim" config export-finn --accel "$src/models/accel/cnv_w1a1_finn_examples.json" \
    --topology "$src/models/cnv_w1a1.yaml" --out "$tmp/a.json" >/dev/null
"$fatsim" config export-finn --accel "$tmp/a.json" --topology "$src/models/cnv_w1a1.yaml" >"$tmp/b.json"
check "export-finn round trip" cmp -s "$tmp/a.json" "$tmp/b.json"
out=$("$fatsim" config export-finn --accel "$src/models/accel/cnv_w1a1_bnnpynq.yaml" 2>&1); rc=$?
check "export-finn mh_padded: exit 1" test $rc -eq 1
check "export-finn mh_padded: named" contains "$out" "layers[8].mh_padded=64: FINN has no padded rows"
out=$("$fatsim" fifo-size --accel "$src/models/accel/cnv_w1a1_loopback.yaml" --model "$tmp/q.fatq" 2>&1); rc=$?
check "fifo-size loopback: usage error" test $rc -eq 2
[ $fails -eq 0 ]
