#!/usr/bin/env bash
# Bit-for-bit guard: runs short versions of the shipped configs and compares
#   - the SHA-256 of every flow checkpoint and `lft measure --json` output with
#     scripts/golden.sha256, and
#   - the content digest of every ensemble (scripts/content_digest.py: every attribute but
#     lft_version, every dataset's values; needs h5py) with scripts/golden.content,
# both recorded with the lft of before the pipeline redesign (issue 11). Ensembles are
# compared by content because the redesign changed the order in which their bytes are laid
# out (rounds appended in place instead of a final rewrite); what they hold is unchanged.
#
#   scripts/golden.sh check     # (default) exit 1 on any difference
#   scripts/golden.sh record    # rewrite both files (LFT=old/lft to record a reference)
#
# LFT=path/to/lft picks the binary (default: target/release/lft, built first).
# The flow hashes assume a CPU with FMA (AVX2 or AVX-512): the portable path rounds twice.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-check}"
lft="${LFT:-target/release/lft}"
[[ -n "${LFT:-}" ]] || cargo build --release -q
lft="$(realpath "$lft")"
root="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
q=(-q)
run() { "$lft" "${q[@]}" "$@" >/dev/null; }

run run "$root/configs/quickstart.toml" --set output.path=quickstart.h5
run run "$root/configs/tutorial.toml" --set train.steps=200 --set sample.configs=1024 \
  --set train.checkpoint=tutorial.flow.h5 --set output.path=tutorial.h5
run sample "$root/configs/tutorial.toml" --set train.steps=200 --set train.checkpoint=tutorial.flow.h5 \
  --set sample.method='"reweight"' --set sample.configs=1024 --set output.path=tutorial-reweight.h5
run sample "$root/configs/tutorial.toml" --set train.steps=200 --set train.checkpoint=tutorial.flow.h5 \
  --set sample.method='"flow_hmc"' --set sample.configs=256 --set sample.chains=2 \
  --set output.path=tutorial-flow-hmc.h5
run run "$root/configs/tutorial_spline.toml" --set train.steps=40 --set sample.configs=256 \
  --set train.checkpoint=spline.flow.h5 --set output.path=spline.h5
run run "$root/configs/yukawa-exact.toml" --set hmc.trajectories=300 --set hmc.thermalization=50 \
  --set output.path=yukawa-exact.h5
run run "$root/configs/yukawa-pf.toml" --set hmc.trajectories=60 --set hmc.thermalization=20 \
  --set output.path=yukawa-pf.h5
run run "$root/configs/yukawa-flow.toml" --set train.steps=40 --set sample.configs=256 \
  --set train.checkpoint=yukawa-flow.flow.h5 --set output.path=yukawa-flow.h5
# Added before the lft-flow redesign (recorded with commit 689a912, whose outputs above are
# those of b5cacb4): the equivariant affine flow, and a forward-KL spline flow with the
# spectral scale, the free-field prior and Z2-equivariant conditioners.
run run "$root/configs/tutorial_equivariant.toml" --set train.steps=40 --set sample.configs=256 \
  --set train.checkpoint=equivariant.flow.h5 --set output.path=equivariant.h5
run train "$root/configs/tutorial_spline.toml" --set train.steps=30 --set flow.equivariant=true \
  --set flow.spectral=true --set flow.prior='"free"' --set flow.prior_m2=1.0 \
  --set train.objective='"forward_kl"' --set train.data=tutorial.h5 \
  --set train.checkpoint=forward-kl.flow.h5
"$lft" -q measure quickstart.h5 --skip 100 --json > quickstart.measure.json
"$lft" -q measure tutorial-reweight.h5 --json > tutorial-reweight.measure.json
"$lft" -q measure yukawa-exact.h5 --skip 50 --json > yukawa-exact.measure.json

sha256sum -- *.flow.h5 *.json | sort -k2 > hashes
ensembles=$(ls *.h5 | grep -v '\.flow\.h5$')
python3 "$root/scripts/content_digest.py" $ensembles | sort -k2 > contents
if [[ "$mode" == record ]]; then
  cp hashes "$root/scripts/golden.sha256"
  cp contents "$root/scripts/golden.content"
  cat hashes contents
else
  status=0
  diff -u "$root/scripts/golden.sha256" hashes || status=1
  diff -u "$root/scripts/golden.content" contents || status=1
  if [[ $status == 0 ]]; then
    echo "golden: $(wc -l < hashes) files bit-identical, $(wc -l < contents) ensembles with identical contents"
  else
    echo "golden: outputs differ from the recorded ones (see the diff above)" >&2
    exit 1
  fi
fi
