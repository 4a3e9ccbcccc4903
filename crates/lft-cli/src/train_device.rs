//! The model `lft train` trains: the CPU flow, or the same flow on a CUDA device
//! ([`lft_cuda::DeviceFlow`]), driven by the one training loop either way. The checkpoint is
//! the same file for both, so training may move between devices.

use crate::device::Choice;
use anyhow::{Result, bail};
use lft_action::Phi4Params;
use lft_config::{Config, FlowPlan, Model};
use lft_cuda::flow_program::FlowProgram;
use lft_cuda::{CudaError, CudaRuntime, Device, DeviceFlow};
use lft_flow::{Flow, GradientEstimator, Trainable};
use tracing::info;

pub enum TrainModel {
    Cpu(Flow),
    Gpu(Box<DeviceFlow<CudaRuntime>>),
}

/// The device `lft train` will use, ready before anything is read or written: None for the
/// CPU; for CUDA the runtime, after refusing by name what the device cannot train.
pub struct Placement {
    choice: Choice,
    runtime: Option<(CudaRuntime, Phi4Params)>,
}

impl Placement {
    pub fn new(choice: Choice, config: &Config, plan: &FlowPlan) -> Result<Self> {
        let Device::Cuda(index) = choice.device else {
            return Ok(Self {
                choice,
                runtime: None,
            });
        };
        let Model::Phi4(params) = *config.model() else {
            bail!("{choice}: the GPU trains flows for φ⁴; this config's action is Yukawa");
        };
        if plan.train.data.is_some() {
            bail!("{choice}: the forward KL (train.data) does not run on the GPU yet");
        }
        if plan.train.options.gradient == GradientEstimator::Path {
            bail!("{choice}: train.gradient = \"path\" does not run on the GPU yet");
        }
        let gpu = |e: CudaError| anyhow::anyhow!("{choice}: {e}");
        FlowProgram::check(&plan.spec).map_err(gpu)?;
        let runtime = CudaRuntime::new(index).map_err(gpu)?;
        let g = runtime.gpu();
        info!(
            "training on {} (sm_{}{}), conditioners in {:?}",
            g.name, g.compute_capability.0, g.compute_capability.1, plan.spec.precision
        );
        Ok(Self {
            choice,
            runtime: Some((runtime, params)),
        })
    }
}

impl TrainModel {
    /// `flow` where `placement` says.
    pub fn new(flow: Flow, placement: Placement, plan: &FlowPlan) -> Result<Self> {
        let Some((runtime, params)) = placement.runtime else {
            return Ok(TrainModel::Cpu(flow));
        };
        let choice = placement.choice;
        let device = DeviceFlow::new(runtime, flow, &plan.spec, params)
            .map_err(|e| anyhow::anyhow!("{choice}: {e}"))?;
        Ok(TrainModel::Gpu(Box::new(device)))
    }

    /// The flow with its current parameters.
    pub fn flow(&self) -> &Flow {
        match self {
            TrainModel::Cpu(f) => f,
            TrainModel::Gpu(d) => d.flow(),
        }
    }

    pub fn trainable(&mut self) -> &mut dyn Trainable {
        match self {
            TrainModel::Cpu(f) => f,
            TrainModel::Gpu(d) => d.as_mut(),
        }
    }

    /// A device error the last steps met (the loop saw them as failed steps).
    pub fn take_error(&mut self) -> Option<CudaError> {
        match self {
            TrainModel::Cpu(_) => None,
            TrainModel::Gpu(d) => d.take_error(),
        }
    }
}
