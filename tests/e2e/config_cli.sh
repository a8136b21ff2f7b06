#!/usr/bin/env bash
# e2e: `fatsim config check` knows every kind of config the project reads
# (the shipped campaign and pipeline specs are ok; bad ones fail with file,
# field path and rule, all at once) and `fatsim config describe` lists them.
set -u
fatsim=$1
src=$2
source "$(dirname "$0")/lib.sh"

out=$("$fatsim" config check "$src/campaigns/example_channel.yaml" "$src/campaigns/fashion_cnv.yaml" 2>&1); rc=$?
check "shipped specs: exit 0" test $rc -eq 0
check "campaign spec ok" contains "$out" "ok  $src/campaigns/example_channel.yaml: campaign spec cnv_w1a1_channel, channel stuck@"
check "pipeline spec ok" contains "$out" "ok  $src/campaigns/fashion_cnv.yaml: pipeline spec fashion_cnv, 4 models on cnv_w1a1"

printf 'model: m.fatq\nerror_model: stuck\ndataset: {images: -1}\n' >"$tmp/bad_campaign.yaml"
printf 'topology: t.yaml\nmodels: [{label: A, mode: fat9}]\ntrain: {epochs: 0}\n' >"$tmp/bad_pipeline.yaml"
out=$("$fatsim" config check "$tmp/bad_campaign.yaml" "$tmp/bad_pipeline.yaml" 2>&1); rc=$?
check "bad specs: exit 1" test $rc -eq 1
check "campaign: missing key" contains "$out" "bad_campaign.yaml: output: required key missing"
check "campaign: choice" contains "$out" "bad_campaign.yaml: error_model=stuck must be one of channel, pixel"
check "campaign: nested range" contains "$out" "bad_campaign.yaml: dataset.images=-1 must be in 0..100000000"
check "pipeline: list entry" contains "$out" "bad_pipeline.yaml: models[0].mode=fat9 must be one of sat, fat1, fat2, dropout2d"
check "pipeline: nested range" contains "$out" "bad_pipeline.yaml: train.epochs=0 must be in 1..100000"
check "pipeline: missing key" contains "$out" "bad_pipeline.yaml: output: required key missing"

# Error-model files: the shipped example (A2 codes) is ok on its own and on a
# W1A2 topology; on W1A1 its transition codes do not exist.
em="$src/models/error_models/pe_group_example.yaml"
out=$("$fatsim" config check "$em" 2>&1); rc=$?
check "error model: exit 0" test $rc -eq 0
check "error model ok" contains "$out" "ok  $em: error model, group granularity"
out=$("$fatsim" config check "$em" --topology "$src/models/cnv_w1a2.yaml" 2>&1); rc=$?
check "error model on W1A2: ok" contains "$out" "valid on the topology"
out=$("$fatsim" config check "$em" --topology "$src/models/cnv_w1a1.yaml" 2>&1); rc=$?
check "error model on W1A1: exit 1" test $rc -eq 1
check "error model on W1A1: names the field" contains "$out" "transition"

printf 'hello: 1\n' >"$tmp/other.yaml"
out=$("$fatsim" config check "$tmp/other.yaml" 2>&1); rc=$?
check "unknown kind: exit 1" test $rc -eq 1
check "unknown kind named" contains "$out" "??  $tmp/other.yaml: not a config this build knows (unknown)"

all=$("$fatsim" config describe); rc=$?
check "describe: exit 0" test $rc -eq 0
for row in "topology: " "accel: " "campaign: " "pipeline: " "  layers[].weight_bits " "  engine.simd " \
           "  dataset.sample " "  models[].error_model "; do
    check "describe lists '$row'" contains "$all" "$row"
done
one=$("$fatsim" config describe pipeline)
check "describe one kind" test "$(grep -c '^[a-z]*: ' <<<"$one")" -eq 1
check "describe row: key, type, default, description" \
    grep -qE '^  train\.epochs +int 1\.\.100000 +4 +training epochs per model$' <<<"$one"
"$fatsim" config describe colours >/dev/null 2>&1; rc=$?
check "describe unknown kind: usage error" test $rc -eq 2
[ $fails -eq 0 ]
