#!/usr/bin/env bash
# e2e: `fatsim derive-error-model` on a tiny `fatsim map-faults` run of the
# 1/4-width CNV: the derived classes and weights against the CSV (recomputed
# here independently), masked faults left out, rates applied, bad rates files,
# the file loads and validates (sweep accepts it).
set -u
fatsim=$1
src=$2
source "$(dirname "$0")/lib.sh"

"$fatsim" model random -t "$src/models/cnv_w1a1.yaml" --width 0.25 --seed 1 -o "$tmp/q.fatq" >/dev/null
"$fatsim" map-faults --accel "$src/models/accel/cnv_w1a1_quarter.yaml" --model "$tmp/q.fatq" --random-inputs 1 \
    --images 4 --sample 8 --no-progress --threads 1 --output "$tmp/mf" >/dev/null
check "map-faults wrote faults.csv" test -s "$tmp/mf/faults.csv"

# The expected model from the CSV: per unmasked fault with code transitions,
# (layer, channels, golden -> most frequent faulty) weighing population / mapped
# x rate; identical patterns summed; normalised (widths: the 1/4-width CNV). Compared as a multiset of
# (layer, channels resolved on the layer, effect table, weight).
expect() {  # $1: derived model file, $2: rates as a python dict literal
    python3 - "$tmp/mf" "$1" "$2" <<'PY'
import csv, json, sys, yaml, collections
mf, model_file, rates = sys.argv[1], sys.argv[2], eval(sys.argv[3])
rows = list(csv.DictReader(open(mf + "/faults.csv")))
pop = {c["class"]: c["population"] for c in json.load(open(mf + "/manifest.json"))["classes"]}
mapped = collections.Counter(r["class"] for r in rows)
width = {"conv0": 16, "conv1": 16, "conv2": 32, "conv3": 32, "conv4": 64, "conv5": 64, "fc0": 128, "fc1": 128}
want = collections.defaultdict(float)
masked = 0
for r in rows:
    if r["masked"] == "1": masked += 1; continue
    # The network input and the classifier's scores are no activation layer.
    if r["layer"] not in width or rates.get(r["class"], 1.0) == 0: continue
    counts = collections.defaultdict(collections.Counter)
    for t in r["transitions"].split(";"):
        g, rest = t.split(">"); f, n = rest.split(":")
        counts[int(g)][int(f)] += int(n)
    table = tuple(sorted((g, max(sorted(c), key=lambda f: c[f])) for g, c in counts.items()))
    chans = tuple(sorted(int(c) for c in r["channels"].split(";")))
    want[(r["layer"], chans, table)] += pop[r["class"]] / mapped[r["class"]] * rates.get(r["class"], 1.0)
total = sum(want.values())
m = yaml.safe_load(open(model_file))
got = {}
for c in m["classes"]:
    (layer,) = c["layers"]
    ch = c["channels"]
    if ch == "all": chans = tuple(range(width[layer]))
    elif isinstance(ch, dict): chans = tuple(x for x in range(width[layer]) if x % ch["modulus"] == ch["residue"])
    else: chans = tuple(ch)
    # A stuck class stands for the table of the golden codes the fault saw.
    key = [k for k in want if k[0] == layer and k[1] == chans and
           (("stuck" in c and all(f == c["stuck"] for g, f in k[2])) or
            ("transition" in c and dict(k[2]) == {int(g): f for g, f in c["transition"].items()}))]
    for k in key: got[k] = got.get(k, 0) + c["weight"]
ok = len(m["classes"]) == len(want) and all(abs(got.get(k, -1) - w / total) < 1e-9 for k, w in want.items())
print("masked", masked, "classes", len(want), "match" if ok else "MISMATCH")
PY
}

out=$("$fatsim" derive-error-model --map "$tmp/mf" --out "$tmp/m.yaml" 2>&1); rc=$?
check "derive: exit 0" test $rc -eq 0
res=$(expect "$tmp/m.yaml" "{}")
check "derive: classes and weights match the CSV ($res)" contains "$res" "match"
masked=$(awk '{print $2}' <<<"$res")
check "derive: masked faults counted and left out" contains "$out" "$masked masked"
check "derive: header names accelerator and masked" \
    bash -c "grep -q '^# accelerator: .*cnv_w1a1_quarter.yaml' '$tmp/m.yaml' && grep -q 'masked (left out): $masked' '$tmp/m.yaml'"
check "derive: PE channel set as modulus/residue" grep -q 'channels: {modulus: 4, residue: 0}' "$tmp/m.yaml"

printf 'rates: {acc: 4.0, wmem: 0.5, fifo: 0}\n' >"$tmp/r.yaml"
out=$("$fatsim" derive-error-model --map "$tmp/mf" --out "$tmp/mr.yaml" --rates "$tmp/r.yaml" 2>&1); rc=$?
check "rates: exit 0" test $rc -eq 0
res=$(expect "$tmp/mr.yaml" "{'acc': 4.0, 'wmem': 0.5, 'fifo': 0}")
check "rates: weights scaled per class ($res)" contains "$res" "match"
check "rates: a rate-0 class left out" bash -c "! grep -q 'name: .*fifo' '$tmp/mr.yaml'"

out=$("$fatsim" derive-error-model --map "$tmp/mf" --out "$tmp/mw.yaml" --min-weight 0.05 2>&1)
n_all=$(grep -c '^  - name' "$tmp/m.yaml"); n_min=$(grep -c '^  - name' "$tmp/mw.yaml")
check "min-weight drops light classes ($n_min of $n_all kept)" test "$n_min" -lt "$n_all"

printf 'rates: {wmem: -1, bogus: 1}\nrate: 2\n' >"$tmp/bad.yaml"
out=$("$fatsim" derive-error-model --map "$tmp/mf" --out "$tmp/x.yaml" --rates "$tmp/bad.yaml" 2>&1); rc=$?
check "bad rates: exit non-zero" test $rc -ne 0
check "bad rates: negative rate named" contains "$out" "rates.wmem: must be a finite number >= 0"
check "bad rates: unknown class named" contains "$out" "rates.bogus: unknown fault class"
check "bad rates: unknown key named" contains "$out" "rate: unknown key"
check "bad rates: no model written" test ! -e "$tmp/x.yaml"

if [ -d /usr/share/datasets/fashion-mnist ]; then
    out=$("$fatsim" sweep --model "$tmp/q.fatq" --error-model "$tmp/m.yaml" --images 2 --layers conv0 2>&1); rc=$?
    check "sweep accepts the derived model" test $rc -eq 0
else
    echo "skip sweep: Fashion-MNIST not installed"
fi

echo "$fails failure(s)"
test $fails -eq 0
