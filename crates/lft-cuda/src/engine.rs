//! The device a command computes on, opened once: a CUDA runtime or the host emulator, and the
//! flow objects made on it as trait objects, so that a command's code is the same for both.

use crate::CudaError;
use crate::device::Device;
use crate::device_flow::DeviceFlow;
use crate::device_proposal::DeviceProposal;
use crate::executor::{Emulator, Executor};
use crate::ops::phi4::Phi4Target;
use crate::runtime::CudaRuntime;
use lft_flow::spec::FlowSpec;
use lft_flow::{Flow, Proposal, Trainable};

/// A flow training on a device: lft-flow's [`Trainable`], the flow, and the device's errors.
pub trait TrainingDevice: Trainable + Send {
    fn flow(&self) -> &Flow;
    fn take_error(&mut self) -> Option<CudaError>;
}

impl<E: Executor + Send> TrainingDevice for DeviceFlow<E> {
    fn flow(&self) -> &Flow {
        DeviceFlow::flow(self)
    }
    fn take_error(&mut self) -> Option<CudaError> {
        DeviceFlow::take_error(self)
    }
}

/// A flow proposing on a device: lft-flow's [`Proposal`] and the device's errors.
pub trait ProposalDevice: Proposal {
    fn take_error(&self) -> Option<CudaError>;
}

impl<E: Executor + Send> ProposalDevice for DeviceProposal<E> {
    fn take_error(&self) -> Option<CudaError> {
        DeviceProposal::take_error(self)
    }
}

/// An opened device.
pub enum Engine {
    Cuda(Box<CudaRuntime>),
    Emulator(Emulator),
}

impl Engine {
    /// None for the CPU; else the device, probed and with its kernels loaded (the emulator needs
    /// a C++ compiler), or the error naming what is missing.
    pub fn open(device: Device) -> Result<Option<Self>, CudaError> {
        match device {
            Device::Cpu => Ok(None),
            Device::Cuda(i) => Ok(Some(Engine::Cuda(Box::new(CudaRuntime::new(i)?)))),
            Device::Emulator if crate::emulate::available() => {
                Ok(Some(Engine::Emulator(Emulator::default())))
            }
            Device::Emulator => Err(CudaError::Emulation(
                "no C++ compiler (g++ or $CXX)".to_string(),
            )),
        }
    }

    /// What the device is, for the log.
    pub fn describe(&self) -> String {
        match self {
            Engine::Cuda(rt) => {
                let g = rt.gpu();
                let (major, minor) = g.compute_capability;
                format!("{} (sm_{major}{minor})", g.name)
            }
            Engine::Emulator(_) => "the host emulator of the kernels".to_string(),
        }
    }

    /// `flow` (architecture `spec`) training for the φ⁴ target `target` here.
    pub fn training(
        self,
        flow: Flow,
        spec: &FlowSpec,
        target: impl Into<Phi4Target>,
    ) -> Result<Box<dyn TrainingDevice>, CudaError> {
        let target = target.into();
        Ok(match self {
            Engine::Cuda(rt) => Box::new(DeviceFlow::new(*rt, flow, spec, target)?),
            Engine::Emulator(e) => Box::new(DeviceFlow::new(e, flow, spec, target)?),
        })
    }

    /// The trained `flow` drawing proposals here.
    pub fn proposals(
        self,
        flow: Flow,
        spec: &FlowSpec,
    ) -> Result<Box<dyn ProposalDevice>, CudaError> {
        Ok(match self {
            Engine::Cuda(rt) => Box::new(DeviceProposal::new(*rt, flow, spec)?),
            Engine::Emulator(e) => Box::new(DeviceProposal::new(e, flow, spec)?),
        })
    }
}
