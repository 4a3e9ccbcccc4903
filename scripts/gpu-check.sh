#!/usr/bin/env bash
# The CUDA backend's checks on a real GPU (docs/GPU.md), in two halves:
#
#   scripts/gpu-check.sh --stage [DIR]   here (Rust): builds gpu_bench, the lft-cuda test
#                                        executables and the lft binary with --features cuda
#                                        into DIR (gpu-run/), with the configs it runs
#   DIR/run.sh --run [OUT]               on the GPU machine (no Rust): the parity and GPU tests
#                                        with LFT_REQUIRE_GPU=1, gpu_bench, the PyTorch peers,
#                                        end-to-end commands on the GPU and on the machine's CPU;
#                                        everything written under OUT (default $OUT)
set -euo pipefail
mode=${1:-}
case "$mode" in
--stage)
    cd "$(dirname "$0")/.."
    stage=${2:-gpu-run}
    cargo build --release --features cuda -p lft-cuda --example gpu_bench
    cargo build --release --features cuda -p lft-cli
    rm -rf "$stage"
    mkdir -p "$stage/tests" "$stage/configs"
    cp target/release/examples/gpu_bench target/release/lft "$stage/"
    cp configs/tutorial.toml configs/tutorial-fast.toml configs/smc-free.toml configs/e2.toml \
        "$stage/configs/"
    # Built once with the compiler's messages shown (a test that does not build stops here),
    # then listed.
    cargo test --release -p lft-cuda --features cuda --no-run
    cargo test --release -p lft-cuda --features cuda --no-run --message-format=json 2>/dev/null |
        python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' |
        while read -r exe; do cp "$exe" "$stage/tests/"; done
    # Without symbols and line tables the whole stage is about 35 MB (a device run carries at
    # most 64 MiB); with them, over 200 MB.
    strip --strip-all "$stage"/lft "$stage"/gpu_bench "$stage"/tests/*
    cp benches/pytorch/tutorial_step.py "$stage/"
    cp scripts/gpu-check.sh "$stage/run.sh"
    echo "staged in $stage/ ($(ls "$stage/tests" | wc -l) test executables, $(du -sh "$stage" | cut -f1)): carry it, then $stage/run.sh --run"
    ;;
--run)
    here=$(cd "$(dirname "$0")" && pwd)
    out=${2:-${OUT:?give OUT}}
    mkdir -p "$out"
    # NVRTC: the toolkit's, or the one in PyTorch's wheels.
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
        $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cu13", "lib") for p in nvidia.__path__))' 2>/dev/null) \
        $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cuda_nvrtc", "lib") for p in nvidia.__path__))' 2>/dev/null); do
        [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
    done
    nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || true
    export LFT_REQUIRE_GPU=1
    : >"$out/summary.txt"
    for t in "$here"/tests/*; do
        name=$(basename "$t")
        if timeout 300 "$t" >"$out/$name.txt" 2>&1; then
            echo "ok      $name" >>"$out/summary.txt"
        else
            echo "FAILED  $name" >>"$out/summary.txt"
        fi
    done
    cat "$out/summary.txt"
    timeout 300 "$here/gpu_bench" --json "$out/gpu_bench.json" 2>&1 | tee "$out/gpu_bench.txt" || true
    for args in "--dtype float64" "--dtype float32" "--dtype float32 --compile"; do
        tag=$(echo "$args" | tr -d ' -')
        # shellcheck disable=SC2086
        timeout 200 python3 "$here/tutorial_step.py" --device cuda $args --batches 64 1024 8192 \
            --seconds 3 >"$out/torch_$tag.txt" 2>&1 || true
    done
    # End to end, the GPU against this machine's CPU: each command timed, its output measured.
    # tutorial-fast.toml uses the spectral layer, the free-field prior and the path gradient,
    # which the device refuses by name (no FFT there yet): its GPU line records the refusal.
    e2e() {
        local name=$1 device=$2
        shift 2
        local t0=$SECONDS
        if timeout 300 "$here/lft" "$@" --device "$device" \
            --set "output.path=\"$out/e2e/$name-$device.h5\"" >"$out/e2e/$name-$device.txt" 2>&1; then
            "$here/lft" measure --json "$out/e2e/$name-$device.h5" >"$out/e2e/$name-$device.json" 2>&1 || true
            echo "ok      $name $device $((SECONDS - t0)) s" >>"$out/summary.txt"
        else
            echo "FAILED  $name $device $((SECONDS - t0)) s" >>"$out/summary.txt"
        fi
    }
    mkdir -p "$out/e2e"
    for device in cuda cpu; do
        e2e tutorial "$device" run "$here/configs/tutorial.toml" \
            --set "train.checkpoint=\"$out/e2e/tutorial-$device.flow.h5\""
        e2e tutorial-fast "$device" run "$here/configs/tutorial-fast.toml" \
            --set "train.checkpoint=\"$out/e2e/tutorial-fast-$device.flow.h5\""
        e2e smc-free "$device" anneal "$here/configs/smc-free.toml" --set anneal.repeats=20
    done
    e2e e2-1024 cuda hmc "$here/configs/e2.toml" --set hmc.chains=1024 \
        --set hmc.trajectories=2000 --set hmc.save_every=10
    e2e e2 cpu hmc "$here/configs/e2.toml"
    cat "$out/summary.txt"
    ;;
*)
    sed -n '2,9p' "$0"
    exit 2
    ;;
esac
