#!/usr/bin/env bash
# End-to-end: a tiny pipeline (train, export, campaigns, replication, report),
# then a second run that must skip every step, then a bad spec.
# Args: path to fatsim, source dir.
set -u
fatsim=$1
src=$2
source "$(dirname "$0")/lib.sh"
if [ ! -d /usr/share/datasets/fashion-mnist ]; then echo "skip: Fashion-MNIST not installed"; exit 0; fi
# A spec the pipeline must refuse before any work: exit 1, the rule named.
refuses() {  # LABEL SPEC REGEX
  local out rc
  out=$("$fatsim" pipeline "$2" 2>&1); rc=$?
  check "$1: exit 1" test $rc -eq 1
  check "$1: rule named" matches "$out" "$3"
}

cat >"$tmp/spec.yaml" <<YAML
name: tiny
output: out
topology: $src/models/cnv_w1a1.yaml
width: 0.25
dataset: {name: fashion-mnist, train_images: 400, test_images: 200}
train: {epochs: 1, seed: 3, threads: 2}
models:
  - {label: SAT, mode: sat}
  - {label: FAT2, mode: fat2, p: 0.05}
campaigns: {channel_images: 40, pixel_images: 20}
replicate: {accel: $src/models/accel/cnv_w1a1_quarter.yaml}
YAML
out=$("$fatsim" pipeline "$tmp/spec.yaml" 2>/dev/null); rc=$?
check "first run succeeds" test $rc -eq 0
check "report written" test -s "$tmp/out/report.md"
report=$(cat "$tmp/out/report.md" 2>/dev/null)
check "report has the training table" matches "$report" "| SAT | sat | 0 % |"
check "report checks the claims" matches "$report" "Do the paper's claims hold here?"
check "export agreed on every test image" matches "$report" "| 200/200 |"
check "channel CSV has every fault" test "$(wc -l <"$tmp/out/campaigns/SAT_channel/faults.csv")" -eq 961
check "replication curve" test -s "$tmp/out/replication/replication_FAT2.csv"
check "plots" test -s "$tmp/out/fig_pixel_min_max.png"

cp "$tmp/out/models/SAT.fatq" "$tmp/sat_before.fatq"
out=$("$fatsim" pipeline "$tmp/spec.yaml" 2>/dev/null); rc=$?
check "second run succeeds" test $rc -eq 0
check "second run skips training" matches "$out" "SAT: up to date"
check "second run skips campaigns" matches "$out" "FAT2_pixel: up to date, skipped"
check "model untouched" cmp -s "$tmp/sat_before.fatq" "$tmp/out/models/SAT.fatq"

check "report states the FAT2 layer schedule" matches "$report" "- FAT2: epoch 1: "

# Two seeds, FAT2 switching layers every 2 batches, FAT on an error-model file
# with a class that strikes conv0 and conv1 together.
cat >"$tmp/em.yaml" <<YAML
granularity: channel
classes:
  - {layers: [conv0, conv1], stuck: any, weight: 2}
  - {stuck: any}
YAML
cat >"$tmp/seeds.yaml" <<YAML
name: tiny_seeds
output: out_seeds
topology: $src/models/cnv_w1a1.yaml
width: 0.25
dataset: {name: fashion-mnist, train_images: 400, test_images: 100}
train: {epochs: 1, seeds: [3, 4], threads: 2, fat2_switch_batches: 2}
models:
  - {label: SAT, mode: sat}
  - {label: FAT2, mode: fat2, p: 0.05}
  - {label: FATM, mode: fat1, p: 0.05, error_model: em.yaml}
campaigns: {channel_images: 20, pixel_images: 10}
YAML
out=$("$fatsim" pipeline "$tmp/seeds.yaml" 2>/dev/null); rc=$?
check "two seeds: run succeeds" test $rc -eq 0
seeds=$(cat "$tmp/out_seeds/report.md" 2>/dev/null)
check "two seeds: a folder per seed" test -s "$tmp/out_seeds/seed4/models/FATM.fatq" -a -s "$tmp/out_seeds/seed3/report.md"
check "two seeds: mean, spread, each seed" matches "$seeds" "| SAT | sat | .* ± .* | .* / .* |"
check "two seeds: claims per seed with an interval" matches "$seeds" "holds in [0-2] of 2 seeds; for the mean .*95 % CI \["
check "two seeds: FAT2 schedule switches every 2 batches" matches "$(cat "$tmp/out_seeds/seed3/report.md")" "(batches 1-2), "
check "two seeds: seeds differ" test "$(cmp -s "$tmp/out_seeds/seed3/models/SAT.fatq" "$tmp/out_seeds/seed4/models/SAT.fatq"; echo $?)" -ne 0
sed 's/{layers: \[conv0, conv1\]/{layers: [conv0, conv9]/' "$tmp/em.yaml" >"$tmp/em_bad.yaml"
sed 's/em.yaml/em_bad.yaml/' "$tmp/seeds.yaml" >"$tmp/seeds_bad.yaml"
out=$("$fatsim" pipeline "$tmp/seeds_bad.yaml" 2>&1); rc=$?
check "bad error model: exit 1" test $rc -eq 1
check "bad error model: field named" matches "$out" "em_bad.yaml: classes\[0\].layers\[1\]=conv9 is not a layer"

# The physical part: SAT's physical faults of the quarter dataflow folding
# -> a derived error model -> FAT trained on it -> every model under them.
cat >"$tmp/phys.yaml" <<YAML
name: tiny_phys
output: out_phys
topology: $src/models/cnv_w1a1.yaml
width: 0.25
dataset: {name: fashion-mnist, train_images: 400, test_images: 100}
train: {epochs: 1, seed: 3, threads: 2}
models:
  - {label: SAT, mode: sat}
  - {label: FAT1, mode: fat1, p: 0.05}
campaigns: {channel_images: 20, pixel_images: 10}
physical: {accels: [$src/models/accel/cnv_w1a1_quarter.yaml, $src/models/accel/cnv_w1a1_quarter_loopback.yaml], images: 30, sample: 4}
YAML
out=$("$fatsim" pipeline "$tmp/phys.yaml" 2>/dev/null); rc=$?
check "physical: run succeeds" test $rc -eq 0
phys=$(cat "$tmp/out_phys/report.md" 2>/dev/null)
pdir=$tmp/out_phys/physical/cnv_w1a1_quarter
check "physical: derived error model written" matches "$(cat "$pdir/derived_error_model.yaml" 2>/dev/null)" "^classes:"
check "physical: FAT on it trained" test -s "$tmp/out_phys/models/FAT-cnv_w1a1_quarter.fatq"
check "physical: every model under the faults" test -s "$pdir/FAT1/summary.json" -a -s "$pdir/FAT-cnv_w1a1_quarter/faults.csv"
check "physical: report section" matches "$phys" "| FAT-cnv_w1a1_quarter | [0-9.]* | [0-9.]* | [0-9.]* |"
check "physical: verdict" matches "$phys" "beats FAT on the paper's channel model (FAT1) under cnv_w1a1_quarter's physical faults (mean accuracy): \*\*"
# Selective PE replication under the physical faults, recomputed from the rows:
# nothing triplicated leaves the least accuracy; every PE triplicated leaves
# the FIFO faults (in no PE); the first PE added holds the least accurate PE fault.
check "physical: PE replication in the report" matches "$phys" "PEs to triplicate for a worst-case error"
# The loopback engine: its own section, derived model and PE replication over engine.pe[P].
ldir=$tmp/out_phys/physical/cnv_w1a1_quarter_loopback
check "physical loopback: FAT on its derived model trained" test -s "$tmp/out_phys/models/FAT-cnv_w1a1_quarter_loopback.fatq"
check "physical loopback: report section" matches "$phys" "## Physical faults: cnv_w1a1_quarter_loopback"
check "physical loopback: PEs are the engine's" matches "$(cat "$ldir/pe_replication/replication_SAT.csv" 2>/dev/null)" ",engine\.pe\[[0-9][0-9]*\]$"
check "physical: PE replication curve recomputed from the rows" python3 - "$pdir/FAT1" <<'PY'
import csv, json, sys
d = sys.argv[1]
ef = json.load(open(d + "/summary.json"))["error_free_accuracy"]
rows = list(csv.DictReader(open(d + "/faults.csv")))
curve = list(csv.DictReader(open(d + "/../pe_replication/replication_FAT1.csv")))
acc = lambda r: float(r["accuracy"])
pe_rows = [r for r in rows if r["class"] in ("acc", "adder", "wmem", "thr", "cmp")]
out_rows = [r for r in rows if r not in pe_rows]
assert abs(float(curve[0]["worst_error"]) - (100 - min([ef] + [acc(r) for r in rows]))) < 1e-4, curve[0]
assert abs(float(curve[-1]["worst_error"]) - (100 - min([ef] + [acc(r) for r in out_rows]))) < 1e-4, curve[-1]
import re
def pe(r):  # "conv1.pe[3].acc...", "conv1.wmem.pe[3]..." -> "conv1.pe[3]"
    return r["site"].split(".")[0] + ".pe[" + re.search(r"\.pe\[(\d+)\]", r["site"]).group(1) + "]"
least = min(acc(r) for r in pe_rows)
assert curve[1]["added"] == min(pe(r) for r in pe_rows if acc(r) == least), curve[1]  # ties: by name
assert len(curve) == 1 + len({pe(r) for r in pe_rows})
PY
# The stratified mean and fraction, recomputed from faults.csv and manifest.json.
check "physical: overall stats recomputed from the rows" python3 - "$pdir/FAT1" <<'PY'
import csv, json, sys
d = sys.argv[1]
pop = {c["class"]: c["population"] for c in json.load(open(d + "/manifest.json"))["classes"]}
s = json.load(open(d + "/summary.json"))
rows = list(csv.DictReader(open(d + "/faults.csv")))
n = {}
for r in rows: n[r["class"]] = n.get(r["class"], 0) + 1
w = [pop[r["class"]] / n[r["class"]] for r in rows]
a = [float(r["accuracy"]) for r in rows]
mean = sum(x * y for x, y in zip(w, a)) / sum(w)
costly = sum(x for x, y in zip(w, a) if y < s["error_free_accuracy"] - 1) / sum(w)
o = s["overall"]
assert o["faults"] == len(rows) == 6 * 4, o
assert abs(o["mean_accuracy"] - mean) < 1e-9 and abs(o["fraction_costing_over_1_point"] - costly) < 1e-12, (o, mean, costly)
assert o["min_accuracy"] == min(a), o
PY
cp "$pdir/pe_replication/replication_FAT1.csv" "$tmp/curve_first.csv"
out=$("$fatsim" pipeline "$tmp/phys.yaml" 2>/dev/null); rc=$?
check "physical: second run skips" matches "$out" "cnv_w1a1_quarter/FAT-cnv_w1a1_quarter: up to date, skipped"
check "physical: second run keeps the derived error model" matches "$out" \
    "cnv_w1a1_quarter/derived_error_model.yaml: up to date, skipped"
check "physical: the kept PE criticality gives the same curve" cmp -s "$tmp/curve_first.csv" "$pdir/pe_replication/replication_FAT1.csv"
# A kept criticality whose key is not the campaign's is recomputed from the rows.
python3 - "$pdir/FAT1/pe_criticality.json" <<'PY'
import json, sys
k = json.load(open(sys.argv[1])); k["key"] = "stale"; k["outside_worst"] = 0; k["pes"] = []
json.dump(k, open(sys.argv[1], "w"))
PY
"$fatsim" pipeline "$tmp/phys.yaml" >/dev/null 2>&1
check "physical: a stale PE criticality is recomputed" cmp -s "$tmp/curve_first.csv" "$pdir/pe_replication/replication_FAT1.csv"
# ... and so is a damaged one with the right key.
python3 - "$pdir/FAT1/pe_criticality.json" <<'PY'
import json, sys
k = json.load(open(sys.argv[1])); k["pes"] = [{"pe": 3}]
json.dump(k, open(sys.argv[1], "w"))
PY
"$fatsim" pipeline "$tmp/phys.yaml" >/dev/null 2>&1; rc=$?
check "physical: a damaged PE criticality is recomputed" test $rc -eq 0 -a -z "$(cmp "$tmp/curve_first.csv" "$pdir/pe_replication/replication_FAT1.csv" 2>&1)"
# Two models trained at once (each in its own process, one thread): the same
# models as one at a time. Then every non-weight site of the dataflow folding
# for SAT, FAT1 and its derived model (weight faults sampled), the rest sampled.
sed 's/threads: 2}/threads: 2, parallel: 2}/; s/out_phys/out_par/' "$tmp/phys.yaml" >"$tmp/par.yaml"
out=$("$fatsim" pipeline "$tmp/par.yaml" 2>/dev/null); rc=$?
check "parallel: run succeeds" test $rc -eq 0
check "parallel: two at once" matches "$out" "SAT, FAT1: 2 at once, 1 thread(s) each"
check "parallel: a child's log" matches "$(cat "$tmp/out_par/checkpoints/FAT1/train.log" 2>/dev/null)" "epoch 1/1"
for m in SAT FAT1 FAT-cnv_w1a1_quarter FAT-cnv_w1a1_quarter_loopback; do
  check "parallel: $m is the model trained alone" cmp -s "$tmp/out_phys/models/$m.fatq" "$tmp/out_par/models/$m.fatq"
done
# (The loopback engine's campaigns on 12 images of their own.)
sed "s|sample: 4}|sample: 4, every_site: [$src/models/accel/cnv_w1a1_quarter.yaml], weight_margin: 0.2}|; s|, \($src/models/accel/cnv_w1a1_quarter_loopback.yaml\)\]|, {path: \1, images: 12}]|" \
  "$tmp/par.yaml" >"$tmp/every.yaml"
out=$("$fatsim" pipeline "$tmp/every.yaml" 2>/dev/null); rc=$?
check "every site: run succeeds" test $rc -eq 0
check "every site: the loopback's own image count said" matches "$out" "30 images; cnv_w1a1_quarter_loopback 12 images)"
check "every site: trained models kept" matches "$out" "FAT1: up to date"
every=$(cat "$tmp/out_par/report.md" 2>/dev/null)
check "every site: report says which campaigns" matches "$every" "| FAT1 | .* | every non-weight, weight sample |"
check "every site: the rest sampled" matches "$every" "| FAT-cnv_w1a1_quarter_loopback | .* | 4 per class |"
check "every site: campaigns as said" python3 - "$tmp/out_par/physical" <<'PY'
import csv, json, sys
d = sys.argv[1] + "/"
def classes(run):
    return {c["class"]: (c["population"], c["faults"]) for c in json.load(open(d + run + "/manifest.json"))["classes"]}
for model in ("SAT", "FAT1", "FAT-cnv_w1a1_quarter"):
    c = classes("cnv_w1a1_quarter/" + model)
    assert all(f == p for k, (p, f) in c.items() if k != "wmem"), (model, c)
    assert 4 < c["wmem"][1] < c["wmem"][0], (model, c)
    assert len(list(csv.DictReader(open(d + "cnv_w1a1_quarter/" + model + "/faults.csv")))) == sum(f for p, f in c.values())
for run in ("cnv_w1a1_quarter/FAT-cnv_w1a1_quarter_loopback", "cnv_w1a1_quarter_loopback/SAT"):
    assert all(f == min(4, p) for p, f in classes(run).values()), (run, classes(run))
for model in ("SAT", "FAT1", "FAT-cnv_w1a1_quarter_loopback"):
    for accel, images in (("cnv_w1a1_quarter", 30), ("cnv_w1a1_quarter_loopback", 12)):
        m = json.load(open(d + accel + "/" + model + "/manifest.json"))
        assert m["images"] == images, (model, accel, m["images"])
PY
check "every site: the report says the loopback's images" matches "$(cat "$tmp/out_par/report.md" 2>/dev/null)" "were mapped to activation-level error patterns on 12 test images"
# A child's training that fails: the pipeline says why, naming the file.
rm -f "$tmp/out_par/models/SAT.fatq"
truncate -s 100 "$tmp/out_par/checkpoints/SAT/net_epoch0.pt"
out=$("$fatsim" pipeline "$tmp/every.yaml" 2>&1); rc=$?
check "parallel, corrupt checkpoint: exit 1" test $rc -eq 1
check "parallel, corrupt checkpoint: file named" matches "$out" "training of SAT failed (exit 1): .*checkpoints/SAT/net_epoch0.pt: not a readable checkpoint of this network"
check "parallel, corrupt checkpoint: no stack trace" test "$(printf '%s\n' "$out" | grep -c 'frame #')" -eq 0
sed "s|every_site: \[|every_site: [$src/models/accel/cnv_w1a1.yaml, |" "$tmp/every.yaml" >"$tmp/every_bad.yaml"
refuses "every site not an accel" "$tmp/every_bad.yaml" "physical.every_site\[0\]=.* must be one of physical.accels"
sed "s|every_site: \[\([^]]*\)\]|every_site: [\1, \1]|" "$tmp/every.yaml" >"$tmp/every_twice.yaml"
refuses "every site listed twice" "$tmp/every_twice.yaml" "physical.every_site\[1\]=.* is listed twice"
sed "s|{path: \([^,]*\), images: 12}|{images: 12}|" "$tmp/every.yaml" >"$tmp/accel_nopath.yaml"
refuses "accelerator map without its path" "$tmp/accel_nopath.yaml" "physical.accels\[1\].path: required"
sed "s|images: 12}|images: 0}|" "$tmp/every.yaml" >"$tmp/accel_noimages.yaml"
refuses "accelerator with 0 images" "$tmp/accel_noimages.yaml" "physical.accels\[1\].images=0 must be in 1..10000000"
sed '/^  - {label: SAT, mode: sat}/d' "$tmp/phys.yaml" >"$tmp/phys_nosat.yaml"
refuses "physical without SAT" "$tmp/phys_nosat.yaml" "physical: needs a model with mode sat"

sed 's/^width: 0.25/width: 0.25\ncolour: red/; s/epochs: 1,/epochs: 0,/' "$tmp/spec.yaml" >"$tmp/bad.yaml"
out=$("$fatsim" pipeline "$tmp/bad.yaml" 2>&1); rc=$?
check "bad spec: exit 1" test $rc -eq 1
check "bad spec: unknown key named" matches "$out" "bad.yaml: colour: unknown key"
check "bad spec: range named" matches "$out" "train.epochs=0 must be in 1..100000"
[ $fails -eq 0 ]
