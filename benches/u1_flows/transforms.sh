#!/usr/bin/env bash
# The circle-transform comparison of docs/PERFORMANCE.md: 2D U(1) at L = 16, beta = 4, one
# gauge-equivariant flow per transform with 13 parameters per active plaquette (so equal
# parameter counts: NCP with 6 components, circular spline with 4 bins, smooth mixture with 4
# components), 16 layers, hidden [8, 8], batch 64, Adam lr 1e-3; the quality (ESS, IMH
# acceptance on 16384 fresh samples) after each stage of training, with the training time.
#
#   cargo build --release && benches/u1_flows/transforms.sh [STAGES]   (default "250 500 1000 2000")
set -euo pipefail
cd "$(dirname "$0")/../.."
lft=./target/release/lft
out=${OUT:-/tmp/lft-u1-transforms}
stages=${1:-"250 500 1000 2000"}
mkdir -p "$out"
grep -v '^components' configs/u1-flow-tutorial.toml > "$out/base.toml"
for spec in "ncp components=6" "circular_spline bins=4" "smooth_mixture components=4"; do
  set -- $spec
  transform=$1; size=$2
  rm -f "$out/$transform.flow.h5"
  for steps in $stages; do
    start=$(date +%s.%N)
    $lft train "$out/base.toml" -q \
      --set lattice.shape=[16,16] --set action.beta=4.0 --set flow.layers=16 \
      --set flow.transform=\"$transform\" --set "flow.$size" \
      --set train.steps=$steps --set train.eval_samples=16384 \
      --set train.checkpoint=\"$out/$transform.flow.h5\" --json > "$out/$transform.$steps.json"
    end=$(date +%s.%N)
    python3 - "$out/$transform.$steps.json" "$transform" "$steps" "$start" "$end" <<'PY'
import json, sys
path, transform, steps, start, end = sys.argv[1:]
j = json.load(open(path))
q = j["quality"]
print(f"{transform:16s} steps {steps:>5s}  ess {q['ess']:.4f}  acceptance {q['acceptance']:.4f}  "
      f"loss {q['loss']:.3f}  stage {float(end) - float(start):.0f} s")
PY
  done
done
