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

/// The top-level `kernels/` folder is where the sources live: every `.cu` file there is
/// embedded (`KERNELS`), and the functions each one lists are exactly the `extern "C"
/// __global__` functions the file defines (the launch names the runtime loads and the
/// emulator dispatches on).
#[test]
fn the_kernels_folder_and_the_embedded_list_agree() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".cu").map(str::to_string)
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = KERNELS.iter().map(|k| k.name.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "kernels/*.cu against lft_cuda::KERNELS");
    for kernel in KERNELS {
        let text = std::fs::read_to_string(dir.join(format!("{}.cu", kernel.name))).unwrap();
        assert_eq!(
            text, kernel.source,
            "{}: embedded from kernels/",
            kernel.name
        );
        // Kernels a macro stamps out per float type (`NAME_##SUFFIX`) are defined once per
        // instantiation `MACRO(type, suffix)` in the file.
        let suffixes: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("LFT_") && l.trim_end().ends_with(')'))
            .filter_map(|l| l.trim_end().strip_suffix(')')?.rsplit(", ").next())
            .collect();
        let mut defined: Vec<String> = text
            .split("extern \"C\" __global__ void ")
            .skip(1)
            .map(|rest| rest.split('(').next().unwrap().trim())
            .flat_map(|name| match name.strip_suffix("##SUFFIX") {
                Some(stem) => suffixes.iter().map(|s| format!("{stem}{s}")).collect(),
                None => vec![name.to_string()],
            })
            .collect();
        defined.sort();
        let mut functions: Vec<String> = kernel.functions.iter().map(|f| f.to_string()).collect();
        functions.sort();
        assert_eq!(defined, functions, "kernels/{}.cu", kernel.name);
    }
}
