#!/usr/bin/env bash
# e2e: `fatsim map-faults` on the 1/4-width CNV loopback engine: --verify
# agrees 100 % with the loopback cycle model for every class, a campaign maps
# faults across layers, derive-error-model gives one PE's channels per class,
# transient flips agree too, and what a loopback engine lacks is a clear error.
set -u
fatsim=$1
src=$2
source "$(dirname "$0")/lib.sh"

"$fatsim" model random -t "$src/models/cnv_w1a1.yaml" --width 0.25 --seed 1 -o "$tmp/q.fatq" >/dev/null
lb="$src/models/accel/cnv_w1a1_quarter_loopback.yaml"
out=$("$fatsim" map-faults --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --images 2 --verify 8 2>&1); rc=$?
check "verify: exit 0" test $rc -eq 0
check "verify: the loopback cycle model" contains "$out" "lowering vs the loopback cycle model"
for cls in acc adder wmem thr cmp fmbuf; do
    check "verify: $cls 100 %" matches "$out" "^$cls  *8  *8  *100.0%$"
done
check "verify: no disagreement" test "$(grep -c 'first disagreement' <<<"$out")" -eq 0

out=$("$fatsim" map-faults --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --images 10 --classes acc,cmp \
      --sample 6 --no-progress --threads 2 --output "$tmp/mf" 2>&1); rc=$?
check "campaign: exit 0" test $rc -eq 0
check "campaign: rows" test "$(tail -n +2 "$tmp/mf/faults.csv" | wc -l)" -eq 12
# A PE's fault, unmasked, changes that PE's channels in several layers.
check "campaign: several layers per row" matches "$(cut -d, -f3 "$tmp/mf/faults.csv")" "^conv[0-9];conv"
out=$("$fatsim" derive-error-model --map "$tmp/mf" --out "$tmp/derived.yaml" 2>&1); rc=$?
check "derive: exit 0" test $rc -eq 0
check "derive: a PE's channels" contains "$(cat "$tmp/derived.yaml")" "channels: {modulus: 16, residue:"
check "derive: across layers" matches "$(cat "$tmp/derived.yaml")" "layers: \[conv0, conv1, "

# Transient flips, against the captured loopback schedule (buffers included).
out=$("$fatsim" map-faults --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --images 2 --verify 4 --flips 4 2>&1); rc=$?
check "verify --flips: exit 0" test $rc -eq 0
for cls in acc adder wmem thr; do
    check "verify --flips: $cls 100 %" matches "$out" "^$cls  *8  *8  *100.0%$"
done
check "verify --flips: fmbuf stuck-at and flips" matches "$out" "^fmbuf  *8  *8  *100.0%$"
check "verify --flips: no disagreement" test "$(grep -c 'first disagreement' <<<"$out")" -eq 0
out=$("$fatsim" simulate --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --images 1 \
      --fault 'engine.fmbuf[1].word[0].bit[0]:flip@9' 2>&1); rc=$?
check "fmbuf flip still runs on the cycle model" test $rc -eq 0
out=$("$fatsim" map-faults --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --verify 2 --classes fifo 2>&1); rc=$?
check "fifo on loopback: exit 2" test $rc -eq 2
check "fifo on loopback: named" contains "$out" "has no fifo sites"
for m in margin weight-margin; do
  out=$("$fatsim" map-faults --accel "$lb" --model "$tmp/q.fatq" --random-inputs 1 --$m 1.5 -o "$tmp/bad" 2>&1); rc=$?
  check "--$m 1.5: exit 2" test $rc -eq 2
  check "--$m 1.5: rule named" contains "$out" "--$m must lie strictly between 0 and 1"
done
[ $fails -eq 0 ]
