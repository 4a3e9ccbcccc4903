//! lft's CUDA backend: kernels of its own in `kernels/*.cu`, compiled once per process by
//! NVRTC for the device's architecture and launched through cudarc (with dynamic loading, so
//! that `cargo build --features cuda` needs no toolkit and no driver).
//!
//! Built without the `cuda` feature the same API exists and every call returns
//! [`CudaError::BuiltWithoutCuda`]. With it, [`probe`] looks for the driver, NVRTC and the
//! device before any CUDA call, so a machine without a GPU gets a named error, never a panic.
//!
//! The layers, host-testable first: [`tables`] (index tables the kernels read), [`launch`]
//! (grid and shared-memory geometry), [`schedule`] (HMC trajectories as kick/drift launches),
//! [`philox`] (the device generator's host twin), then the kernels themselves.

pub mod call;
pub mod device;
pub mod device_anneal;
pub mod device_flow;
pub mod device_hmc;
pub mod device_proposal;
pub mod emulate;
pub mod engine;
pub mod error;
pub mod executor;
pub mod flow_program;
pub mod hmc_sampler;
pub mod kernels;
pub mod launch;
pub mod ops;
pub mod philox;
pub mod probe;
pub mod resident;
pub mod runtime;
pub mod schedule;
pub mod tables;

pub use device::Device;
pub use device_anneal::{DeviceAnnealer, DeviceParticles};
pub use device_flow::DeviceFlow;
pub use device_hmc::{HmcDevice, SEGMENT, SegmentChain};
pub use device_proposal::DeviceProposal;
pub use engine::{Engine, ProposalDevice, TrainingDevice};
pub use error::CudaError;
pub use executor::{Emulator, Executor};
pub use hmc_sampler::{DeviceChain, DeviceHmcSampler};
pub use kernels::{ARCHITECTURES, KERNELS, KernelSource, compile_ptx, nvrtc_available};
pub use ops::phi4::Phi4Target;
pub use probe::{Gpu, probe};
pub use runtime::CudaRuntime;
