//! Run configurations of lft: a TOML file with `deny_unknown_fields`, `--set` overrides,
//! defaults written out, every value checked, and the whole resolved once into the types of
//! the libraries it configures.
//!
//! ```
//! use lft_config::{Config, Model};
//! let text = r#"
//! seed = 1
//! [lattice]
//! shape = [8, 8]
//! [action]
//! kind = "phi4"
//! m2 = -4.0          # or kappa = …, lambda_tilde = …
//! lambda = 8.0
//! [hmc]
//! trajectories = 10000
//! [output]
//! path = "ensembles/quickstart.h5"
//! "#;
//! let overrides = ["hmc.steps=20".to_string()];
//! let config = Config::from_text(text, "quickstart.toml".as_ref(), &overrides)?;
//! let hmc = config.hmc()?;
//! assert_eq!(hmc.params.n_steps, 20);
//! assert_eq!(hmc.params.step_size, 1.0 / 20.0, "ε = length / steps, length 1 by default");
//! assert!(matches!(config.model(), Model::Phi4 { params, .. } if params.m2 == -4.0));
//! // The hopping form of the same couplings maps back to the AKS form that was given.
//! assert!((config.couplings().unwrap().hopping.to_aks(2).m2 + 4.0).abs() < 1e-12);
//! # Ok::<(), lft_config::ConfigError>(())
//! ```
//!
//! One file per job: [`file`] (the schema as written), [`action`], [`hmc`], [`heatbath`], [`flow`],
//! [`train`], [`sample`], [`snf`], [`anneal`], [`output`], [`slurm`] (each section and what it resolves to), [`config`]
//! (the resolved whole) and [`reuse`] (whether a stored file belongs to a config).

pub mod action;
pub mod anneal;
pub mod anneal_target;
pub mod config;
mod defaults;
mod error;
pub mod fab;
pub mod file;
pub mod flow;
pub mod heatbath;
pub mod hmc;
pub mod output;
mod overrides;
pub mod pf_estimator;
pub mod pretrain;
pub mod reuse;
pub mod run;
pub mod sample;
pub mod scan;
pub mod slurm;
pub mod snf;
pub mod train;

pub use action::{ActionConfig, ActionKind, Couplings, Fermions, FermionsName, Model};
pub use anneal::{
    AnnealConfig, AnnealMethod, AnnealPlan, CraftPlan, PimhPasses, PimhPlan, ResamplingName,
    ScheduleKind,
};
pub use anneal_target::AnnealTarget;
pub use config::{Config, FlowPlan};
pub use error::ConfigError;
pub use file::{ConfigFile, LatticeConfig};
pub use flow::{
    ActivationName, CouplingName, FlowConfig, MaskOrderName, PrecisionName, PriorName,
    TransformName,
};
pub use heatbath::{HeatbathConfig, HeatbathPlan};
pub use hmc::{HmcConfig, HmcPlan, IntegratorName, StartName};
pub use output::{Output, OutputConfig};
pub use pf_estimator::{JointFlow, PfEstimator, PfEstimatorName, PfReferenceName};
pub use pretrain::{PretrainConfig, PretrainPlan};
pub use reuse::{Mismatch, Reuse};
pub use run::RunConfig;
pub use sample::{SampleConfig, SampleMethod, SamplePlan};
pub use scan::{ScanPoint, Vary};
pub use slurm::{SlurmConfig, SlurmPlan, WarningSignal};
pub use snf::{SnfBlocks, SnfConfig, SnfPlan, SnfStart, StageKind};
pub use train::{ObjectiveName, ScheduleName, TrainConfig, TrainPlan};
