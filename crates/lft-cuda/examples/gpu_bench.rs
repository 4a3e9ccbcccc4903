//! GPU benchmarks of the CUDA backend (docs/GPU.md, docs/PERFORMANCE.md): training steps per
//! second of the tutorial recipe and of larger flows, sampling throughput, batched HMC
//! trajectories per second, and the memory bandwidth the main kernels reach. Each figure is
//! the median of `LFT_BENCH_REPEATS` timed blocks (default 5) after a warm-up. Without a GPU
//! it says so and exits 0.
//!
//!     cargo build --release --features cuda --example gpu_bench
//!     target/release/examples/gpu_bench [--quick] [--json FILE]

use lft_action::Phi4Params;
use lft_cuda::call::{BufferTable, HostBuffer};
use lft_cuda::executor::Executor;
use lft_cuda::ops::phi4::{HmcBatch, HmcWork, Phi4Batch};
use lft_cuda::philox::PhiloxKey;
use lft_cuda::resident::ResidentTrainer;
use lft_cuda::tables::NeighbourTables;
use lft_cuda::{CudaError, CudaRuntime};
use lft_flow::Flow;
use lft_flow::activation::Activation;
use lft_flow::precision::Precision;
use lft_flow::prior::PriorSpec;
use lft_flow::spec::{CouplingSpec, FlowSpec};
use lft_lattice::Lattice;
use lft_records::Integrator;
use std::time::Instant;

/// H200 HBM3e peak (the lent GPU); a copy measures about 4.3 TB/s.
const PEAK_BYTES_PER_S: f64 = 4.8e12;

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
    // Batched HMC: trajectories of many chains at once, and the kick kernel's bandwidth.
    for (l, chains) in [(64usize, 1024usize), (256, 64)] {
        let lattice = Lattice::new(&[l, l]).expect("lattice");
        let v = lattice.volume();
        let mut rt = CudaRuntime::new(0)?;
        let tables = NeighbourTables::new(&lattice);
        let fwd = rt.alloc_i32(&tables.fwd)?;
        let bwd = rt.alloc_i32(&tables.bwd)?;
        let action = Phi4Batch::new(&tables, TARGET.m2, TARGET.lambda, fwd, bwd);
        let phi = rt.alloc(HostBuffer::F64(vec![0.1; chains * v]))?;
        let pi = rt.zeros(chains * v, false)?;
        let hmc = HmcBatch {
            action,
            chains,
            beta: 1.0,
            phi,
            pi,
        };
        let work = HmcWork {
            phi_old: rt.zeros(chains * v, false)?,
            h_old: rt.zeros(chains, false)?,
            h_new: rt.zeros(chains, false)?,
            accepted: rt.alloc_i32(&vec![0; chains])?,
        };
        let key = PhiloxKey::from_seed(5);
        let steps = 10;
        let mut t = 0;
        let s = time(repeats, 10, || {
            t += 1;
            let calls = hmc.update(&work, Integrator::Leapfrog, 0.05, steps, key, t)?;
            rt.run(&calls)?;
            rt.download(work.accepted).map(|_| ())
        })?;
        report(
            format!("HMC leapfrog {steps} steps, L={l}, {chains} chains"),
            chains as f64 / s,
            "chain-trajectories/s",
        );
        let kicks = vec![hmc.kick(0.01)?; 100];
        let s = time(repeats, 1, || {
            rt.run(&kicks)?;
            rt.synchronize()
        })? / 100.0;
        // A kick reads φ and π and writes π: 24 bytes per site (neighbours come from cache).
        let bytes = 24.0 * (chains * v) as f64;
        report(
            format!("hmc_kick bandwidth, L={l}, {chains} chains"),
            bytes / s / 1e9,
            "GB/s",
        );
        report(
            format!(
                "hmc_kick fraction of {:.1} TB/s peak, L={l}",
                PEAK_BYTES_PER_S / 1e12
            ),
            bytes / s / PEAK_BYTES_PER_S,
            "",
        );
    }
    Ok(rows)
}
