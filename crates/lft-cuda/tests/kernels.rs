//! Every kernel compiles with NVRTC for every target architecture, which needs NVRTC but no
//! GPU. Where NVRTC is absent the test says so and passes, unless `LFT_REQUIRE_NVRTC=1`
//! (CI, which installs NVRTC from PyPI) makes that a failure. Built without the `cuda`
//! feature, every call is the named "built without CUDA" error.

use lft_cuda::{ARCHITECTURES, CudaError, KERNELS, compile_ptx, nvrtc_available, probe};

#[test]
fn every_kernel_compiles_for_every_architecture() {
    if !cfg!(feature = "cuda") {
        let e = compile_ptx(&KERNELS[0], "sm_90").unwrap_err();
        assert!(matches!(e, CudaError::BuiltWithoutCuda), "{e}");
        assert!(e.to_string().contains("--features cuda"), "{e}");
        return;
    }
    if !nvrtc_available() {
        assert!(
            std::env::var("LFT_REQUIRE_NVRTC").as_deref() != Ok("1"),
            "LFT_REQUIRE_NVRTC=1 but libnvrtc cannot be loaded (LD_LIBRARY_PATH?)"
        );
        eprintln!("skipped: NVRTC (libnvrtc.so) not found; kernels not compiled");
        return;
    }
    for kernel in KERNELS {
        for &arch in ARCHITECTURES {
            let ptx = compile_ptx(kernel, arch).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                ptx.contains(&format!(".target {arch}")),
                "{}: {arch}",
                kernel.name
            );
            for f in kernel.functions {
                assert!(
                    ptx.contains(&format!(".entry {f}")),
                    "{}: no {f}",
                    kernel.name
                );
            }
        }
    }
}

/// A kernel with an error gives NVRTC's log, naming the line, not a panic.
#[test]
fn a_broken_kernel_gives_the_compiler_log() {
    if !cfg!(feature = "cuda") || !nvrtc_available() {
        eprintln!("skipped: needs the cuda feature and NVRTC");
        return;
    }
    let broken = lft_cuda::KernelSource {
        name: "broken",
        source: "extern \"C\" __global__ void f(double* x) { x[0] = undefined_name; }",
        functions: &["f"],
    };
    let e = compile_ptx(&broken, "sm_90").unwrap_err().to_string();
    assert!(
        e.contains("kernels/broken.cu") && e.contains("undefined_name"),
        "{e}"
    );
}

/// Without a GPU (or without CUDA in the build) the probe names what is missing.
#[test]
fn the_probe_names_what_is_missing() {
    match probe(0) {
        Ok(gpu) => {
            eprintln!("GPU found: {gpu:?}");
            let e = probe(gpu.index + 1000).unwrap_err();
            assert!(matches!(e, CudaError::NoDevice { .. }), "{e}");
        }
        Err(e) => {
            let msg = e.to_string();
            eprintln!("no GPU: {msg}");
            assert!(
                matches!(
                    e,
                    CudaError::BuiltWithoutCuda | CudaError::NoDriver | CudaError::NoNvrtc
                ) || matches!(e, CudaError::NoDevice { count: 0, .. }),
                "{msg}"
            );
        }
    }
}
