//! Why the CUDA backend cannot run: each case names what is missing and what to do.

/// An error of the CUDA backend.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error(
        "this lft was built without CUDA: rebuild with `cargo build --release --features cuda`"
    )]
    BuiltWithoutCuda,
    #[error("no CUDA driver (libcuda.so) on this machine: CUDA needs an NVIDIA GPU and its driver")]
    NoDriver,
    #[error(
        "NVRTC (libnvrtc.so) not found: install the CUDA toolkit, or `pip install \
         nvidia-cuda-nvrtc` and put its lib directory on LD_LIBRARY_PATH"
    )]
    NoNvrtc,
    #[error("CUDA device {index} requested, but this machine has {count}")]
    NoDevice { index: usize, count: usize },
    #[error("CUDA driver: {0}")]
    Driver(String),
    #[error("NVRTC could not compile kernels/{kernel}.cu for {arch}:\n{log}")]
    Compile {
        kernel: &'static str,
        arch: String,
        log: String,
    },
    #[error("{what} is too large for one launch: {size}")]
    TooLarge { what: &'static str, size: usize },
    #[error("the spline has {bins} bins; the CUDA kernels take at most {max}")]
    TooManyBins { bins: usize, max: usize },
    #[error("not on the GPU yet: {0} (use --device cpu)")]
    Unsupported(&'static str),
    #[error("the flow's parameters: {got} given, the architecture has {expected}")]
    ParamCount { expected: usize, got: usize },
    #[error("the host emulator: {0}")]
    Emulation(String),
    #[error(
        "the device's target action differs from the one training asks for \
         (S = {device} on the device, {host} on the host): the GPU trains φ⁴ only"
    )]
    TargetMismatch { device: f64, host: f64 },
}
