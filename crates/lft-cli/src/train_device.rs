//! The model `lft train` trains: the CPU flow, or the same flow on a device
//! ([`lft_cuda::TrainingDevice`]: a CUDA GPU, or the host emulator in tests), driven by the one
//! training loop either way. The checkpoint is the same file for both, so training may move
//! between devices.

use crate::device::Choice;
use anyhow::{Result, bail};
use lft_config::{Config, FlowPlan, Model};
use lft_cuda::flow_program::FlowProgram;
use lft_cuda::{CudaError, Engine, TrainingDevice};
use lft_flow::{Flow, GradientEstimator, Trainable};
use tracing::info;

pub enum TrainModel {
    Cpu(Box<Flow>),
    Device(Box<dyn TrainingDevice>),
}

/// The device `lft train` will use, opened before anything is read or written: None for the
/// CPU; else the engine, after refusing by name what the device cannot train.
pub struct Placement {
    choice: Choice,
    engine: Option<(Engine, lft_cuda::Phi4Target)>,
}

impl Placement {
    pub fn new(choice: Choice, config: &Config, plan: &FlowPlan) -> Result<Self> {
        if choice.device == lft_cuda::Device::Cpu {
            return Ok(Self {
                choice,
                engine: None,
            });
        }
        if config.model().is_gauge() {
            bail!("{choice}: gauge-equivariant flows (kind = \"u1\") train on the CPU only");
        }
        let Model::Phi4 { params, h } = *config.model() else {
            bail!(
                "{choice}: the GPU trains flows for φ⁴; this config's action is {}",
                config.model().kind_name()
            );
        };
        if plan.train.data.is_some() {
            bail!("{choice}: the forward KL (train.data) does not run on the GPU yet");
        }
        if plan.train.fab.is_some() {
            bail!("{choice}: FAB (train.objective = \"fab\") trains on the CPU only");
        }
        if plan.train.options.gradient == GradientEstimator::Path {
            bail!("{choice}: train.gradient = \"path\" does not run on the GPU yet");
        }
        let named = |e: CudaError| anyhow::anyhow!("{choice}: {e}");
        FlowProgram::check(&plan.spec).map_err(named)?;
        let engine = Engine::open(choice.device)
            .map_err(named)?
            .expect("not the CPU");
        info!(
            "training on {}, conditioners in {:?}",
            engine.describe(),
            plan.spec.precision
        );
        Ok(Self {
            choice,
            engine: Some((engine, lft_cuda::Phi4Target { params, h })),
        })
    }
}

impl TrainModel {
    /// `flow` where `placement` says.
    pub fn new(flow: Flow, placement: Placement, plan: &FlowPlan) -> Result<Self> {
        let Some((engine, params)) = placement.engine else {
            return Ok(TrainModel::Cpu(Box::new(flow)));
        };
        let choice = placement.choice;
        let device = engine
            .training(flow, &plan.spec, params)
            .map_err(|e| anyhow::anyhow!("{choice}: {e}"))?;
        Ok(TrainModel::Device(device))
    }

    /// The flow with its current parameters.
    pub fn flow(&self) -> &Flow {
        match self {
            TrainModel::Cpu(f) => f,
            TrainModel::Device(d) => d.flow(),
        }
    }

    /// The CPU flow itself (FAB trains only there; `Placement` refuses it on a device).
    pub fn cpu_flow_mut(&mut self) -> Option<&mut Flow> {
        match self {
            TrainModel::Cpu(f) => Some(f.as_mut()),
            TrainModel::Device(_) => None,
        }
    }

    pub fn trainable(&mut self) -> &mut dyn Trainable {
        match self {
            TrainModel::Cpu(f) => f.as_mut(),
            TrainModel::Device(d) => d.as_mut(),
        }
    }

    /// A device error the last steps met (the loop saw them as failed steps).
    pub fn take_error(&mut self) -> Option<CudaError> {
        match self {
            TrainModel::Cpu(_) => None,
            TrainModel::Device(d) => d.take_error(),
        }
    }
}
