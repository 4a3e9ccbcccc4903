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

/// The device functions every kernel file shares (Philox, block reductions, the φ⁴ site
/// terms), prepended to each file before it compiles.
pub const PRELUDE: &str = include_str!("../../../kernels/common.cuh");

/// Every kernel of the backend.
pub const KERNELS: &[KernelSource] = &[
    KernelSource {
        name: "phi4",
        source: include_str!("../../../kernels/phi4.cu"),
        functions: &["phi4_gradient", "phi4_action"],
    },
    KernelSource {
        name: "hmc",
        source: include_str!("../../../kernels/hmc.cu"),
        functions: &[
            "hmc_refresh",
            "hmc_kick",
            "hmc_drift",
            "hmc_hamiltonian",
            "hmc_accept",
        ],
    },
    KernelSource {
        name: "anneal",
        source: include_str!("../../../kernels/anneal.cu"),
        functions: &["anneal_values", "anneal_gather"],
    },
    KernelSource {
        name: "philox",
        source: include_str!("../../../kernels/philox.cu"),
        functions: &["normal_fill", "normal_log_density"],
    },
    KernelSource {
        name: "conv",
        source: include_str!("../../../kernels/conv.cu"),
        functions: &[
            "conv_forward_f64",
            "activation_backward_f64",
            "conv_backward_input_f64",
            "conv_backward_weight_f64",
            "conv_forward_f32",
            "activation_backward_f32",
            "conv_backward_input_f32",
            "conv_backward_weight_f32",
        ],
    },
    KernelSource {
        name: "coupling",
        source: include_str!("../../../kernels/coupling.cu"),
        functions: &[
            "mask_frozen_f64",
            "mask_frozen_backward_f64",
            "mirror_combine_f64",
            "mirror_split_f64",
            "mask_frozen_f32",
            "mask_frozen_backward_f32",
            "mirror_combine_f32",
            "mirror_split_f32",
            "affine_apply",
            "affine_backward",
            "affine_inverse_backward",
        ],
    },
    KernelSource {
        name: "spline",
        source: include_str!("../../../kernels/spline.cu"),
        functions: &["spline_apply", "spline_backward"],
    },
    KernelSource {
        name: "reduce",
        source: include_str!("../../../kernels/reduce.cu"),
        functions: &[
            "kl_summary",
            "sum_squares",
            "scaled_add",
            "scaled_add_rows",
            "to_f32",
            "to_f64",
            "copy_values",
            "fill_values",
            "scale_values",
        ],
    },
    KernelSource {
        name: "adam",
        source: include_str!("../../../kernels/adam.cu"),
        functions: &["adam_step"],
    },
];

/// The text NVRTC compiles for `kernel`: the prelude, then the file, its lines numbered as in
/// `kernels/{name}.cu` so that the compiler's log points into the file itself.
pub fn full_source(kernel: &KernelSource) -> String {
    format!(
        "{PRELUDE}\n#line 1 \"kernels/{}.cu\"\n{}",
        kernel.name, kernel.source
    )
}

/// The `--gpu-architecture` of compute capability (major, minor): "sm_90" for (9, 0).
pub fn architecture(compute_capability: (i32, i32)) -> &'static str {
    match compute_capability {
        (7, 0) => "sm_70",
        (7, 5) => "sm_75",
        (8, 0) => "sm_80",
        (8, 6) => "sm_86",
        (8, 9) => "sm_89",
        (9, 0) => "sm_90",
        (10, 0) => "sm_100",
        (12, 0) => "sm_120",
        (major, minor) => Box::leak(format!("sm_{major}{minor}").into_boxed_str()),
    }
}

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
        match compile_ptx_with_opts(full_source(kernel), options) {
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
