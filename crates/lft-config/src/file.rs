//! The config file as written: the TOML schema (`deny_unknown_fields`), `--set` overrides and
//! the defaults written out, so that the stored text names every setting.

use crate::ConfigError;
use crate::action::ActionConfig;
use crate::anneal::AnnealConfig;
use crate::flow::FlowConfig;
use crate::heatbath::HeatbathConfig;
use crate::hmc::HmcConfig;
use crate::output::OutputConfig;
use crate::overrides::apply_override;
use crate::pretrain::PretrainConfig;
use crate::run::RunConfig;
use crate::sample::SampleConfig;
use crate::slurm::SlurmConfig;
use crate::snf::SnfConfig;
use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A complete run configuration, section by section, as it appears in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Seed of every random stream of the run (chain c draws from stream (seed, c)).
    pub seed: u64,
    /// Task i of a job array (`lft submit`): chain c of the run draws from global chain index
    /// i · chains + c, and the output goes to `<output stem>/task-NNNN.h5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<u64>,
    pub lattice: LatticeConfig,
    pub action: ActionConfig,
    /// Hybrid Monte Carlo (`lft run`, `lft hmc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmc: Option<HmcConfig>,
    /// Heat bath with overrelaxation for gauge fields (`lft run`, `lft heatbath`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heatbath: Option<HeatbathConfig>,
    /// A normalizing flow (`lft train`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowConfig>,
    /// How the flow is trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<TrainConfig>,
    /// A first training stage on an ensemble before `[train]`'s reverse KL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain: Option<PretrainConfig>,
    /// The settings of `train.objective = "fab"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fab: Option<crate::fab::FabConfig>,
    /// Sampling with the trained flow (`lft sample`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<SampleConfig>,
    /// The protocol of NE-MCMC trajectories (`sample.method = "nemcmc"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snf: Option<SnfConfig>,
    /// Annealing from a prior to e^{−S}: SMC, AIS, CRAFT, PIMH (`lft anneal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anneal: Option<AnnealConfig>,
    pub output: OutputConfig,
    /// How the run computes (the device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunConfig>,
    /// Resources of the job arrays `lft submit` writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatticeConfig {
    /// Extents [L0, L1, …], 1 to 4 of them, each ≥ 2; direction 0 is time.
    pub shape: Vec<usize>,
}

impl ConfigFile {
    /// Parses config text (`origin` names it in errors), applies `overrides`
    /// (`section.key=value`, the value in TOML syntax or a bare string) and writes out the
    /// defaults of optional keys. Values are not checked here: see [`crate::Config`].
    pub fn parse(text: &str, origin: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let parse_err = |e: toml::de::Error| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        };
        let mut file: ConfigFile = if overrides.is_empty() {
            toml::from_str(text).map_err(parse_err)?
        } else {
            let mut table: toml::Table = toml::from_str(text).map_err(parse_err)?;
            for item in overrides {
                apply_override(&mut table, item)?;
            }
            let merged = toml::to_string(&table).expect("a TOML table always serialises");
            toml::from_str(&merged).map_err(|e: toml::de::Error| ConfigError::Parse {
                path: origin.to_path_buf(),
                message: format!("after --set overrides: {}", e.to_string().trim_end()),
            })?
        };
        file.action.fill_defaults();
        Ok(file)
    }

    /// The config as TOML, with every default written out. This is the text stored in
    /// ensemble files: two runs with the same effective config produce the same file.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a ConfigFile always serialises")
    }
}
