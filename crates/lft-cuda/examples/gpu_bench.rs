//! GPU benchmarks of the CUDA backend (docs/GPU.md, docs/PERFORMANCE.md): training steps per
//! second of the tutorial recipe and of larger flows, sampling throughput, batched HMC
//! trajectories per second of 1024 chains at L = 64 and 256 (the device sampler's segments),
//! and the memory bandwidth the HMC and convolution kernels reach as a fraction of a
//! device-to-device copy's (the practical peak). Each figure is
//! the median of `LFT_BENCH_REPEATS` timed blocks (default 5) after a warm-up. Without a GPU
//! it says so and exits 0.
//!
//!     cargo build --release --features cuda --example gpu_bench
//!     target/release/examples/gpu_bench [--quick] [--json FILE]

use lft_action::Phi4Params;
use lft_cuda::call::{BufferTable, HostBuffer};
use lft_cuda::executor::Executor;
use lft_cuda::ops::conv::{Act, ConvLayer, Float};
use lft_cuda::ops::reduce;
use lft_cuda::philox::{ChainStream, PhiloxKey};
use lft_cuda::resident::ResidentTrainer;
use lft_cuda::tables::conv_sites;
use lft_cuda::{CudaError, CudaRuntime, HmcDevice, SEGMENT, SegmentChain};
use lft_flow::Flow;
use lft_flow::activation::Activation;
use lft_flow::precision::Precision;
use lft_flow::prior::PriorSpec;
use lft_flow::spec::{CouplingSpec, FlowSpec};
use lft_lattice::Lattice;
use lft_records::Integrator;
use lft_sample::HmcParams;
use std::time::Instant;

const TARGET: Phi4Params = Phi4Params {
    m2: -4.0,
    lambda: 8.0,
};

/// The tutorial recipe (configs/tutorial.toml) with `hidden` channels, in `precision`.
fn recipe(hidden: Vec<usize>, precision: Precision) -> FlowSpec {
    FlowSpec {
        layers: 16,
        hidden,
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: false,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision,
    }
}

/// Seconds per call of `f` (median of `repeats` blocks of `per_block` calls, `f` synchronising).
fn time<F: FnMut() -> Result<(), CudaError>>(
    repeats: usize,
    per_block: usize,
    mut f: F,
) -> Result<f64, CudaError> {
    for _ in 0..per_block.min(3) {
        f()?;
    }
    let mut blocks = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        for _ in 0..per_block {
            f()?;
        }
        blocks.push(t.elapsed().as_secs_f64() / per_block as f64);
    }
    blocks.sort_by(f64::total_cmp);
    Ok(blocks[repeats / 2])
}

struct Row {
    what: String,
    value: f64,
    unit: &'static str,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    let repeats = std::env::var("LFT_BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rows = match run(quick, repeats) {
        Ok(rows) => rows,
        Err(CudaError::NoDriver | CudaError::BuiltWithoutCuda | CudaError::NoDevice { .. }) => {
            println!(
                "gpu_bench: no GPU here ({}); nothing measured",
                CudaRuntime::new(0)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            );
            return;
        }
        Err(e) => {
            eprintln!("gpu_bench: {e}");
            std::process::exit(1);
        }
    };
    if let Some(path) = json {
        let items: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"what\": {:?}, \"value\": {}, \"unit\": {:?}}}",
                    r.what, r.value, r.unit
                )
            })
            .collect();
        std::fs::write(&path, format!("[\n  {}\n]\n", items.join(",\n  ")))
            .expect("write the JSON");
    }
}

fn run(quick: bool, repeats: usize) -> Result<Vec<Row>, CudaError> {
    {
        let probe = CudaRuntime::new(0)?;
        println!(
            "gpu_bench on {} (sm_{}{}), medians of {repeats} blocks",
            probe.gpu().name,
            probe.gpu().compute_capability.0,
            probe.gpu().compute_capability.1
        );
    }
    let mut rows = Vec::new();
    let mut report = |what: String, value: f64, unit: &'static str| {
        println!("{what:<60} {value:>12.3} {unit}");
        rows.push(Row { what, value, unit });
    };
    // Training steps of the tutorial recipe and of larger flows.
    let batches: &[usize] = if quick {
        &[64, 1024]
    } else {
        &[64, 1024, 8192]
    };
    let mut cases = vec![(8usize, vec![8, 8], batches.to_vec())];
    if !quick {
        cases.push((32, vec![16, 16], vec![64, 1024]));
        cases.push((64, vec![32, 32], vec![64, 256]));
    }
    for (l, hidden, batches) in cases {
        let lattice = Lattice::new(&[l, l]).expect("lattice");
        for precision in [Precision::F64, Precision::F32] {
            let spec = recipe(hidden.clone(), precision);
            let flow = Flow::new(lattice.clone(), &spec, 1).expect("flow");
            for &n in &batches {
                let runtime = CudaRuntime::new(0)?;
                let mut trainer =
                    ResidentTrainer::new(runtime, &spec, &lattice, n, flow.params(), TARGET, 7)?;
                let per_block = if n >= 8192 { 5 } else { 20 };
                let s = time(repeats, per_block, || trainer.step(1e-3).map(|_| ()))?;
                report(
                    format!("train step L={l} hidden={hidden:?} {precision:?} batch {n}"),
                    1.0 / s,
                    "steps/s",
                );
                // Sampling: the forward pass and log q of a batch, on the device.
                let p = trainer.program().clone();
                let key = PhiloxKey::from_seed(3);
                let mut t = 0u64;
                let s = time(repeats, per_block, || {
                    t += 1;
                    let mut calls = vec![p.draw_latent(key, t)?];
                    calls.extend(p.forward()?);
                    let exec = trainer.executor();
                    exec.execute(&calls)?;
                    exec.read(p.summary).map(|_| ())
                })?;
                report(
                    format!("sample L={l} hidden={hidden:?} {precision:?} batch {n}"),
                    n as f64 / s,
                    "configs/s",
                );
            }
        }
    }
    // The practical peak: a device-to-device copy of 512 MiB.
    let peak = {
        let mut rt = CudaRuntime::new(0)?;
        let count = 64 << 20;
        let x = rt.zeros(count, false)?;
        let y = rt.zeros(count, false)?;
        let copy = reduce::copy(count, x, y)?;
        let s = time(repeats, 10, || {
            rt.run(std::slice::from_ref(&copy))?;
            rt.synchronize()
        })?;
        let bandwidth = 16.0 * count as f64 / s;
        report(
            "device-to-device copy (512 MiB)".into(),
            bandwidth / 1e9,
            "GB/s",
        );
        bandwidth
    };
    // A kernel moving `bytes` in `s` seconds, against the copy.
    fn fraction(
        report: &mut impl FnMut(String, f64, &'static str),
        peak: f64,
        what: String,
        bytes: f64,
        s: f64,
    ) {
        report(format!("{what} bandwidth"), bytes / s / 1e9, "GB/s");
        report(
            format!("{what} fraction of the copy's"),
            bytes / s / peak,
            "",
        );
    }
    // Batched HMC (lft hmc --device cuda): whole segments of trajectories of 1024 chains, as
    // the sampler runs them, and the kick and drift kernels alone.
    for l in [64usize, 256] {
        let chains = 1024;
        let lattice = Lattice::new(&[l, l]).expect("lattice");
        let v = lattice.volume();
        let mut device = HmcDevice::new(CudaRuntime::new(0)?, &lattice, TARGET, chains)?;
        device.write_fields(&vec![0.1; chains * v])?;
        let params = HmcParams {
            step_size: 0.05,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.0,
        };
        let mut counter = 0;
        let per_segment = if quick { 4 } else { SEGMENT };
        let s = time(repeats, 2, || {
            let segment: Vec<SegmentChain> = (0..chains)
                .map(|b| SegmentChain {
                    stream: ChainStream::new(5, b as u64),
                    counter,
                    params,
                    trajectories: per_segment,
                })
                .collect();
            counter += per_segment as u64;
            device.segment(&segment).map(|_| ())
        })? / per_segment as f64;
        report(
            format!("HMC leapfrog 10 steps, L={l}, {chains} chains"),
            chains as f64 / s,
            "chain-trajectories/s",
        );
        report(
            format!("HMC leapfrog 10 steps, L={l}, {chains} chains, per link update"),
            s / (chains * v) as f64 * 1e9,
            "ns/site",
        );
        let batch = *device.batch();
        let kicks = vec![batch.kick(0)?; 50];
        let drifts = vec![batch.drift(1)?; 50];
        let rt = device.executor();
        // A kick reads φ and π and writes π, a drift the same: 24 bytes per site (the
        // neighbours of φ come from cache).
        let bytes = 24.0 * (chains * v) as f64;
        for (name, calls) in [("hmc_kick", &kicks), ("hmc_drift", &drifts)] {
            let s = time(repeats, 1, || {
                rt.run(calls)?;
                rt.synchronize()
            })? / calls.len() as f64;
            fraction(
                &mut report,
                peak,
                format!("{name}, L={l}, {chains} chains"),
                bytes,
                s,
            );
        }
    }
    // The conditioner's convolution: 16 → 16 channels, 3 × 3, on 64 × 64, batch 256.
    {
        let (l, n, c) = (64usize, 256usize, 16usize);
        let lattice = Lattice::new(&[l, l]).expect("lattice");
        let v = lattice.volume();
        let mut rt = CudaRuntime::new(0)?;
        let sites = rt.alloc_i32(&conv_sites(&lattice, 3))?;
        let layer = ConvLayer {
            c_in: c,
            c_out: c,
            taps: 9,
            volume: v,
            float: Float::F64,
            sites,
            params: rt.alloc(HostBuffer::F64(vec![0.01; c * (c * 9 + 1)]))?,
            offset: 0,
            shared_limit: rt.shared_limit(),
        };
        let h = rt.alloc(HostBuffer::F64(vec![0.1; n * c * v]))?;
        let y = rt.zeros(n * c * v, false)?;
        let call = layer.forward(n, h, Act::Tanh, None, y)?;
        let calls = vec![call; 20];
        let s = time(repeats, 1, || {
            rt.run(&calls)?;
            rt.synchronize()
        })? / calls.len() as f64;
        fraction(
            &mut report,
            peak,
            format!("conv_forward_f64 16→16 3×3, L={l}, batch {n}"),
            (2 * n * c * v * 8) as f64,
            s,
        );
    }
    Ok(rows)
}
