//! The CUDA C sources in `kernels/`, and their compilation to PTX by NVRTC. Compiling needs
//! only NVRTC, no GPU and no driver, so CI compiles every kernel for every architecture lft
//! targets ([`ARCHITECTURES`]): a real check of syntax and types, not of results.

use crate::error::CudaError;

/// One kernel file and the functions it defines.
#[derive(Debug, Clone, Copy)]
pub struct KernelSource {
    /// The file's stem: `kernels/{name}.cu`.
    pub name: &'static str,
    pub source: &'static str,
    /// The `extern "C" __global__` functions it defines.
    pub functions: &'static [&'static str],
}

/// Every kernel of the backend.
pub const KERNELS: &[KernelSource] = &[KernelSource {
    name: "phi4",
    source: include_str!("../kernels/phi4.cu"),
    functions: &["phi4_gradient", "phi4_action"],
}];

/// The architectures CI compiles for: A100 (sm_80) and H100/H200 (sm_90).
pub const ARCHITECTURES: &[&str] = &["sm_80", "sm_90"];

/// Whether NVRTC can be loaded (never, in a build without the `cuda` feature).
pub fn nvrtc_available() -> bool {
    #[cfg(feature = "cuda")]
    {
        // SAFETY: only tries to open the library, which cudarc would otherwise panic on.
        unsafe { cudarc::nvrtc::sys::is_culib_present() }
    }
    #[cfg(not(feature = "cuda"))]
    {
        false
    }
}

/// PTX of `kernel` for `arch` (e.g. "sm_90"), or the compiler's log.
pub fn compile_ptx(kernel: &KernelSource, arch: &'static str) -> Result<String, CudaError> {
    #[cfg(feature = "cuda")]
    {
        use cudarc::nvrtc::{CompileError, CompileOptions, compile_ptx_with_opts};
        if !nvrtc_available() {
            return Err(CudaError::NoNvrtc);
        }
        let options = CompileOptions {
            arch: Some(arch),
            name: Some(format!("{}.cu", kernel.name)),
            ..Default::default()
        };
        match compile_ptx_with_opts(kernel.source, options) {
            Ok(ptx) => Ok(ptx.to_src()),
            Err(e) => {
                let log = match &e {
                    CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
                    other => format!("{other:?}"),
                };
                Err(CudaError::Compile {
                    kernel: kernel.name,
                    arch: arch.to_string(),
                    log,
                })
            }
        }
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = (kernel, arch);
        Err(CudaError::BuiltWithoutCuda)
    }
}
