//! Shared by the kernel tests: random inputs, comparisons, and running one table of calls on
//! every backend there is — the host emulator (needs a C++ compiler) and a GPU (needs one) —
//! so that each test checks both against lft's CPU code (candle's per-device tests, in
//! spirit). A backend that is missing is named and skipped; `LFT_REQUIRE_EMULATOR=1` (CI,
//! whose machines carry g++) makes a missing emulator a failure, `LFT_REQUIRE_GPU=1` (the
//! lent GPU machine) a missing GPU.

#![allow(dead_code)]

use lft_cuda::call::{HostTable, KernelCall};
use lft_cuda::{CudaRuntime, Emulator, emulate};
use lft_lattice::{Pcg64, gaussian_fill, stream_rng, uniform};

/// Where a table of calls ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Emulator,
    Gpu,
}

impl Backend {
    /// The tolerance of a float64 comparison: as given on the emulator (which rounds like the
    /// CPU), at least 1e-10 on the GPU (which fuses multiply-adds).
    pub fn tol(self, tol: f64) -> f64 {
        match self {
            Backend::Emulator => tol,
            Backend::Gpu => tol.max(1e-10),
        }
    }
}

fn required(var: &str) -> bool {
    std::env::var(var).as_deref() == Ok("1")
}

/// The emulator, if a C++ compiler is there to build it (else the test's skip message, or a
/// failure under `LFT_REQUIRE_EMULATOR=1`).
pub fn emulator(test: &str) -> Option<Emulator> {
    if emulate::available() {
        return Some(Emulator::default());
    }
    assert!(
        !required("LFT_REQUIRE_EMULATOR"),
        "LFT_REQUIRE_EMULATOR=1 but no C++ compiler (g++ or $CXX) to emulate the kernels with"
    );
    eprintln!("{test}: emulator skipped: no C++ compiler (g++ or $CXX)");
    None
}

/// GPU 0, if there is one (else the test's skip message, or a failure under
/// `LFT_REQUIRE_GPU=1`).
pub fn gpu(test: &str) -> Option<CudaRuntime> {
    match CudaRuntime::new(0) {
        Ok(gpu) => Some(gpu),
        Err(e) => {
            assert!(!required("LFT_REQUIRE_GPU"), "LFT_REQUIRE_GPU=1 but {e}");
            eprintln!("{test}: GPU skipped: {e}");
            None
        }
    }
}

/// Runs `$check(backend, executor)` (a generic function of an [`lft_cuda::Executor`]) on the
/// emulator and on a GPU, each where there is one.
#[macro_export]
macro_rules! on_every_backend {
    ($test:expr, $check:ident) => {{
        if let Some(e) = common::emulator($test) {
            $check(common::Backend::Emulator, e);
        }
        if let Some(g) = common::gpu($test) {
            $check(common::Backend::Gpu, g);
        }
    }};
}

/// The table after running `calls` on each backend there is.
pub fn run_all(test: &str, table: &HostTable, calls: &[KernelCall]) -> Vec<(Backend, HostTable)> {
    let mut out = Vec::new();
    if emulator(test).is_some() {
        let mut t = table.clone();
        emulate::run(&mut t.buffers, calls).unwrap_or_else(|e| panic!("{test}: {e}"));
        out.push((Backend::Emulator, t));
    }
    if let Some(mut gpu) = gpu(test) {
        let ids = gpu.upload_table(table).unwrap();
        gpu.run(calls).unwrap_or_else(|e| panic!("{test}: {e}"));
        let mut t = table.clone();
        for (slot, id) in t.buffers.iter_mut().zip(ids) {
            *slot = gpu.download(id).unwrap();
        }
        out.push((Backend::Gpu, t));
    }
    out
}

pub fn rng(stream: u64) -> Pcg64 {
    stream_rng(20261202, stream)
}

pub fn normals(rng: &mut Pcg64, len: usize, scale: f64) -> Vec<f64> {
    let mut v = vec![0.0; len];
    gaussian_fill(rng, &mut v);
    v.iter_mut().for_each(|x| *x *= scale);
    v
}

pub fn uniforms(rng: &mut Pcg64, len: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..len).map(|_| lo + (hi - lo) * uniform(rng)).collect()
}

/// max_i |a_i − b_i| / max(1, |b_i|) ≤ tol, naming the first entry that is not.
pub fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let err = (x - y).abs() / y.abs().max(1.0);
        assert!(
            err <= tol,
            "{what}[{i}]: {x} against {y} (error {err:e} > {tol:e})"
        );
    }
}
