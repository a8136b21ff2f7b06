#!/usr/bin/env bash
# The main job on the built-in default (Fashion-MNIST): installs what is
# missing, builds the CLI, then runs the experiment, printing as it goes.
# Outputs go to out/ (override with FATSIM_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
export SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1
scripts/bootstrap.sh
echo "== building fatsim"
scripts/build.sh fatsim
fatsim=build/sim/app/fatsim
out=${FATSIM_OUT:-out}
mkdir -p "$out"

echo "== 1. a CNV-W1A1 with random weights (seed 1)"
$fatsim model random --topology models/cnv_w1a1.yaml --seed 1 --out "$out/cnv_w1a1_random.fatq"
echo "== 2. its accuracy on the Fashion-MNIST test set (golden integer engine)"
$fatsim eval --model "$out/cnv_w1a1_random.fatq"
echo "== 3. channel stuck@ sweep of conv3 on 2,000 test images"
$fatsim sweep --model "$out/cnv_w1a1_random.fatq" --layers conv3 --images 2000 --csv "$out/sweep_conv3.csv"
