//! [`Config`]: a config file checked and resolved once into the typed values of the
//! libraries (lattice, model, sampler plans, flow spec, output), so no consumer re-derives
//! them from the raw sections.

use crate::ConfigError;
use crate::action::{Couplings, Model};
use crate::anneal::AnnealPlan;
use crate::error::invalid;
use crate::file::ConfigFile;
use crate::heatbath::HeatbathPlan;
use crate::hmc::HmcPlan;
use crate::output::{Output, task_file};
use crate::pf_estimator::{JointFlow, PfEstimator};
use crate::pretrain::PretrainPlan;
use crate::run::RunConfig;
use crate::sample::{SampleMethod, SamplePlan};
use crate::slurm::{SlurmConfig, SlurmPlan};
use crate::snf::{SnfPlan, SnfStart};
use crate::train::TrainPlan;
use lft_action::{
    Action, EstimatedAction, FlowDetEstimator, GaugeFlowDetEstimator, GaugePseudofermionFlow,
    PseudofermionFlow, SchwingerEstimated, YukawaEstimated,
};
use lft_flow::FlowSpec;
use lft_lattice::Lattice;
use lft_sample::RunPlan;
use std::path::{Path, PathBuf};

/// A validated run configuration: the effective file (every default written out) and what it
/// resolves to.
#[derive(Debug, Clone)]
pub struct Config {
    file: ConfigFile,
    lattice: Lattice,
    model: Model,
    couplings: Option<Couplings>,
    hmc: Option<HmcPlan>,
    heatbath: Option<HeatbathPlan>,
    flow: Option<FlowPlan>,
    sample: Option<SamplePlan>,
    snf: Option<SnfPlan>,
    anneal: Option<AnnealPlan>,
    output: Output,
    /// `[output] path` as written, before a task moves it into the task folder.
    base_output: PathBuf,
    slurm: SlurmPlan,
    /// `[run] device`, if the config sets one.
    device: Option<lft_cuda::Device>,
    /// The determinant estimator of a pseudofermion config with a `[flow]`.
    pf_estimator: Option<PfEstimator>,
}

/// A validated `[flow]` with its `[train]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowPlan {
    pub spec: FlowSpec,
    pub train: TrainPlan,
    /// `flow.init_from`: the checkpoint of a flow of the same shape on another lattice size.
    pub init_from: Option<std::path::PathBuf>,
    /// `[pretrain]`: training on an ensemble before `train`'s reverse KL, while no
    /// checkpoint exists.
    pub pretrain: Option<PretrainPlan>,
}

impl PartialEq for Config {
    /// Two configs are equal when their effective files are (the rest derives from it).
    fn eq(&self, other: &Self) -> bool {
        self.file == other.file
    }
}

impl Config {
    /// Reads `path`, applies `overrides` (`section.key=value`, value in TOML syntax or a bare
    /// string) and validates the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_text(&text, path, overrides)
    }

    /// Parses config text (`origin` names it in errors), applies overrides, validates.
    pub fn from_text(text: &str, origin: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::try_from(ConfigFile::parse(text, origin, overrides)?)
    }

    /// The effective config file, every default written out.
    pub fn file(&self) -> &ConfigFile {
        &self.file
    }

    /// The effective config as TOML: the text stored in ensembles and checkpoints.
    pub fn to_toml(&self) -> String {
        self.file.to_toml()
    }

    /// Seed of every random stream of the run.
    pub fn seed(&self) -> u64 {
        self.file.seed
    }

    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    /// The theory: φ⁴, Yukawa with its fermion treatment, or U(1).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The φ⁴ couplings in both parametrisations, whichever one the config gave (`None` for a
    /// gauge field).
    pub fn couplings(&self) -> Option<&Couplings> {
        self.couplings.as_ref()
    }

    /// The theory and its couplings in one line, for logs: "phi4: m2 = -4, lambda = 8
    /// (kappa = …, lambda_tilde = …)", with ", g = …, mass = …, exact determinant" for
    /// Yukawa, or "u1: beta = 4".
    pub fn action_summary(&self) -> String {
        let kind = self.model.kind_name();
        let treatment = |f: &crate::Fermions| match f {
            crate::Fermions::Exact => "exact determinant",
            crate::Fermions::Pseudofermion(_) => "pseudofermions",
        };
        let Some(c) = &self.couplings else {
            return match self.model {
                Model::U1 { beta } => format!("{kind}: beta = {beta}"),
                Model::Schwinger {
                    beta,
                    mass,
                    fermions,
                } => format!(
                    "{kind}: beta = {beta}, mass = {mass}, N_f = 2 staggered, {}",
                    treatment(&fermions)
                ),
                _ => unreachable!("only gauge fields lack φ⁴ couplings"),
            };
        };
        let fermions = match self.model {
            Model::Yukawa { params, fermions } => format!(
                ", g = {}, mass = {}, {}",
                params.g,
                params.mass,
                treatment(&fermions)
            ),
            _ => String::new(),
        };
        format!(
            "{kind}: m2 = {}, lambda = {} (kappa = {:.6}, lambda_tilde = {:.6}){fermions}",
            c.aks.m2, c.aks.lambda, c.hopping.kappa, c.hopping.lambda_tilde
        )
    }

    /// S(φ) of the config: [`Model::field_action`], or for a pseudofermion config with a
    /// `[flow]` the estimated one ([`Config::estimated_action`]).
    pub fn field_action(&self) -> Result<Box<dyn Action>, ConfigError> {
        field_action_of(&self.model, &self.lattice, self.pf_estimator, self.seed())
    }

    /// The action a flow trains on: [`Config::field_action`], but for pseudofermions with a
    /// cheaper estimator ([`PfEstimator::for_training`]): the training gradient takes only the
    /// stochastic force, and the estimate enters the reported loss alone.
    pub fn training_action(&self) -> Result<Box<dyn Action>, ConfigError> {
        let pf = self.pf_estimator.map(|p| p.for_training());
        field_action_of(&self.model, &self.lattice, pf, self.seed())
    }

    /// The determinant estimator of a pseudofermion config with a `[flow]`.
    pub fn pf_estimator(&self) -> Option<&PfEstimator> {
        self.pf_estimator.as_ref()
    }

    /// For a pseudofermion config with a `[flow]` and the ladder estimator: S_bosonic − log d̂et
    /// with stochastic pseudofermion forces, its noise under the config's seed. `None` with
    /// `pf_estimator = "flow"`, whose estimator must first be trained
    /// ([`Config::joint_flow`], [`Config::joint_action`]).
    pub fn estimated_action(&self) -> Option<Box<dyn EstimatedAction>> {
        let pf = self.pf_estimator?;
        if pf.joint.is_some() {
            return None;
        }
        estimated_action_of(&self.model, &self.lattice, pf, self.seed())
    }

    /// The conditional pseudofermion flow of `pf_estimator = "flow"` and its training.
    pub fn joint_flow(&self) -> Option<JointFlow> {
        self.pf_estimator?.joint
    }

    /// The Yukawa model of a pseudofermion config (what a conditional flow trains on).
    pub fn pseudofermion_model(&self) -> Option<lft_action::Yukawa> {
        let Model::Yukawa {
            params,
            fermions: crate::Fermions::Pseudofermion(_),
        } = self.model
        else {
            return None;
        };
        Some(lft_action::Yukawa::new(self.lattice.clone(), params).expect("checked by resolve"))
    }

    /// The CG settings of a pseudofermion config (force and action solves).
    pub fn pseudofermion_cg(&self) -> Option<lft_action::PseudofermionCg> {
        match self.model {
            Model::Yukawa {
                fermions: crate::Fermions::Pseudofermion(cg),
                ..
            }
            | Model::Schwinger {
                fermions: crate::Fermions::Pseudofermion(cg),
                ..
            } => Some(cg),
            _ => None,
        }
    }

    /// For `pf_estimator = "flow"`: S_φ⁴ − log d̂et with d̂et the importance-sampling estimate of
    /// the trained conditional flow `pf_flow` (`pf_draws` draws), so that independence
    /// Metropolis on it samples the joint (φ, ϕ).
    pub fn joint_action(&self, pf_flow: PseudofermionFlow) -> Option<YukawaEstimated> {
        let pf = self.pf_estimator?;
        pf.joint?;
        let Model::Yukawa {
            fermions: crate::Fermions::Pseudofermion(cg),
            ..
        } = self.model
        else {
            return None;
        };
        let estimator = FlowDetEstimator::new(pf_flow, pf.draws, cg.action)
            .expect("pf_draws checked when the config was read");
        Some(YukawaEstimated::new(
            self.pseudofermion_model()?,
            estimator,
            cg.force,
            self.seed(),
        ))
    }

    /// The Schwinger model of a pseudofermion config (what its conditional flow trains on).
    pub fn schwinger_model(&self) -> Option<lft_action::Schwinger> {
        let Model::Schwinger {
            beta,
            mass,
            fermions: crate::Fermions::Pseudofermion(_),
        } = self.model
        else {
            return None;
        };
        Some(
            lft_action::Schwinger::new(self.lattice.clone(), beta, mass)
                .expect("checked by resolve"),
        )
    }

    /// For the Schwinger model with `pf_estimator = "flow"`: S_W − log d̂et with d̂et the
    /// importance-sampling estimate of the trained gauge-covariant conditional flow `pf_flow`,
    /// so that independence Metropolis on it samples the joint (θ, ϕ).
    pub fn gauge_joint_action(
        &self,
        pf_flow: GaugePseudofermionFlow,
    ) -> Option<SchwingerEstimated> {
        let pf = self.pf_estimator?;
        pf.joint?;
        let cg = self.pseudofermion_cg()?;
        let estimator = GaugeFlowDetEstimator::new(pf_flow, pf.draws, cg.action)
            .expect("pf_draws checked when the config was read");
        Some(SchwingerEstimated::new(
            self.schwinger_model()?,
            estimator,
            cg.force,
            self.seed(),
        ))
    }

    /// The `[heatbath]` plan, or an error naming the missing section.
    pub fn heatbath(&self) -> Result<&HeatbathPlan, ConfigError> {
        self.heatbath
            .as_ref()
            .ok_or_else(|| invalid("heatbath", "this config has no [heatbath] section"))
    }

    /// The `[hmc]` plan, or an error naming the missing section.
    pub fn hmc(&self) -> Result<&HmcPlan, ConfigError> {
        self.hmc
            .as_ref()
            .ok_or_else(|| invalid("hmc", "this config has no [hmc] section"))
    }

    /// The `[flow]` and `[train]` plan, or an error naming the missing section.
    pub fn flow(&self) -> Result<&FlowPlan, ConfigError> {
        self.flow
            .as_ref()
            .ok_or_else(|| invalid("flow", "this config has no [flow] section"))
    }

    /// The `[sample]` plan, or an error naming the missing section.
    pub fn sample(&self) -> Result<&SamplePlan, ConfigError> {
        self.sample
            .as_ref()
            .ok_or_else(|| invalid("sample", "this config has no [sample] section"))
    }

    /// The `[snf]` plan of NE-MCMC, or an error naming the missing section.
    pub fn snf(&self) -> Result<&SnfPlan, ConfigError> {
        self.snf
            .as_ref()
            .ok_or_else(|| invalid("snf", "this config has no [snf] section"))
    }

    /// Whether `lft run` trains the flow: not where NE-MCMC starts from the flow's prior.
    pub fn needs_training(&self) -> bool {
        self.flow.is_some() && self.snf.as_ref().is_none_or(|s| s.start == SnfStart::Flow)
    }

    /// The `[anneal]` plan, or an error naming the missing section.
    pub fn anneal(&self) -> Result<&AnnealPlan, ConfigError> {
        self.anneal
            .as_ref()
            .ok_or_else(|| invalid("anneal", "this config has no [anneal] section"))
    }

    pub fn output(&self) -> &Output {
        &self.output
    }

    /// The run plan of the ensemble this config writes to `output.path`: `[hmc]` chains of
    /// trajectories, `[sample]` chains of configurations, annealing passes of particles, or
    /// PIMH chains of steps (`None` for a flow config without `[sample]`).
    pub fn ensemble_plan(&self) -> Option<RunPlan> {
        if let Some(a) = &self.anneal {
            return Some(match &a.pimh {
                Some(p) => self.run_plan(p.chains, p.steps, 1),
                None => self.run_plan(a.repeats, a.settings.particles, 1),
            });
        }
        if let Some(h) = &self.hmc {
            return Some(self.run_plan(h.chains, h.trajectories, h.save_every));
        }
        if let Some(h) = &self.heatbath {
            return Some(self.run_plan(h.chains, h.sweeps, h.save_every));
        }
        self.sample
            .as_ref()
            .map(|s| self.run_plan(s.chains, s.configs, s.save_every))
    }

    /// Task i of a job array (`task = i`), if this run is one.
    pub fn task(&self) -> Option<u64> {
        self.file.task
    }

    /// `[output] path` as written: for a task, the path whose folder holds the task files.
    pub fn base_output(&self) -> &Path {
        &self.base_output
    }

    /// The `[slurm]` settings (the defaults if the config has no such section).
    pub fn slurm(&self) -> &SlurmPlan {
        &self.slurm
    }

    /// `[run] device`, if set (the command line's `--device` overrides it).
    pub fn device(&self) -> Option<lft_cuda::Device> {
        self.device
    }

    /// Whether the config has a `[slurm]` section.
    pub fn has_slurm_section(&self) -> bool {
        self.file.slurm.is_some()
    }

    /// The pipeline plan of `chains` chains of `steps` steps, one in `save_every` stored,
    /// flushed as `[output]` says. Chain indices start at 0, or for task i at i · chains, so
    /// that the tasks of a job array draw from disjoint streams.
    pub fn run_plan(&self, chains: usize, steps: usize, save_every: usize) -> RunPlan {
        RunPlan {
            chains,
            steps,
            save_every,
            flush_every: self.output.flush_every,
            first_chain: self.file.task.unwrap_or(0) * chains as u64,
            stop: None,
        }
    }
}

impl TryFrom<ConfigFile> for Config {
    type Error = ConfigError;

    /// Checks every value for range and consistency, section by section, and resolves it.
    fn try_from(mut file: ConfigFile) -> Result<Self, ConfigError> {
        let lattice = Lattice::new(&file.lattice.shape)
            .map_err(|e| invalid("lattice.shape", e.to_string()))?;
        let (model, couplings) = file.action.resolve(&lattice)?;
        let pseudofermion = model.has_pseudofermions();
        // A pseudofermion config with a flow estimates the determinant (settings written out).
        let pf_estimator = if pseudofermion && file.flow.is_some() {
            file.action.fill_pf_defaults(&model);
            Some(file.action.pf_estimator(&model)?)
        } else {
            if file.action.has_pf_keys() {
                return Err(invalid(
                    "action.pf_estimator",
                    "the pf_* keys set the determinant estimator of flows: only used with \
                     fermions = \"pseudofermion\" and a [flow] section",
                ));
            }
            None
        };
        // Flows are Z₂-equivariant by default where the action is Z₂-symmetric, and a
        // free-field prior without a mass gets the one fitted to the action (written out).
        if let Some(flow) = file.flow.as_mut() {
            flow.fill_defaults(model.is_gauge());
            if !model.is_gauge() {
                flow.equivariant.get_or_insert(model.is_z2_symmetric());
            }
            if flow.prior_name() == crate::flow::PriorName::Free && flow.prior_m2.is_none() {
                let action = field_action_of(&model, &lattice, pf_estimator, file.seed)?;
                flow.prior_m2 = Some(lft_flow::prior::fit_free_field_mass(
                    &lattice,
                    action.as_ref(),
                    file.seed,
                ));
            }
        }
        let fab_objective = file
            .train
            .as_ref()
            .is_some_and(|t| t.objective == crate::train::ObjectiveName::Fab);
        match (fab_objective, file.fab.is_some()) {
            (true, false) => file.fab = Some(crate::fab::FabConfig::default()),
            (false, true) => {
                return Err(invalid(
                    "fab",
                    "the [fab] section sets train.objective = \"fab\"; this config trains by \
                     another objective",
                ));
            }
            _ => {}
        }
        if fab_objective && pf_estimator.is_some() {
            return Err(invalid(
                "train.objective",
                "FAB anneals to p²/q with the exact action; with pseudofermions the action is \
                 only estimated (use fermions = \"exact\", or reverse_kl)",
            ));
        }
        if let Some(hmc) = file.hmc.as_mut() {
            if hmc.fourier_acceleration && (model.is_gauge() || pseudofermion) {
                return Err(invalid(
                    "hmc.fourier_acceleration",
                    "Fourier acceleration is for scalar fields whose HMC state is the field \
                     alone (φ⁴, the Yukawa model with the exact determinant); not for link \
                     angles or pseudofermion chains",
                ));
            }
            if hmc.inner_steps > 1 && !pseudofermion {
                return Err(invalid(
                    "hmc.inner_steps",
                    "multi-timescale molecular dynamics splits the bosonic force from the \
                     pseudofermion force: it needs fermions = \"pseudofermion\"",
                ));
            }
            hmc.fill_defaults(&file.lattice.shape);
        }
        if file.hmc.is_none()
            && file.heatbath.is_none()
            && file.flow.is_none()
            && file.anneal.is_none()
        {
            return Err(invalid(
                "hmc",
                "the config needs a sampler: an [hmc], a [heatbath], a [flow] or an [anneal] \
                 section",
            ));
        }
        if file.heatbath.is_some() {
            if !model.is_gauge() {
                return Err(invalid(
                    "heatbath",
                    "the heat bath updates the links of a gauge field: it needs action.kind = \
                     \"u1\" (use [hmc] for scalar fields)",
                ));
            }
            if let Model::Schwinger { .. } = model {
                return Err(invalid(
                    "heatbath",
                    "the heat bath samples the Wilson action link by link; the fermion \
                     determinant of kind = \"schwinger\" couples every link (use [hmc])",
                ));
            }
            if let Some((other, _)) = [
                ("hmc", file.hmc.is_some()),
                ("flow", file.flow.is_some()),
                ("anneal", file.anneal.is_some()),
            ]
            .into_iter()
            .find(|(_, present)| *present)
            {
                return Err(invalid(
                    "heatbath",
                    format!(
                        "a [heatbath] config runs its own sampler; remove the [{other}] section"
                    ),
                ));
            }
        }
        if let Some(a) = file.anneal.as_mut() {
            use crate::flow::PriorName;
            let default = if model.is_gauge() {
                PriorName::Uniform
            } else {
                PriorName::Normal
            };
            let prior = *a.prior.get_or_insert(default);
            if model.is_gauge() && prior != PriorName::Uniform {
                return Err(invalid(
                    "anneal.prior",
                    "a gauge field anneals from the Haar measure of its links: prior = \
                     \"uniform\" (the default for kind = \"u1\")",
                ));
            }
            if !model.is_gauge() && prior == PriorName::Uniform {
                return Err(invalid(
                    "anneal.prior",
                    "uniform angles are the prior of gauge fields (kind = \"u1\"); a scalar \
                     field anneals from \"normal\", \"free\" or \"z2_mixture\"",
                ));
            }
        }
        if file.anneal.is_some()
            && let Some(other) = [
                ("hmc", file.hmc.is_some()),
                ("flow", file.flow.is_some()),
                ("pretrain", file.pretrain.is_some()),
                ("sample", file.sample.is_some()),
            ]
            .iter()
            .find(|(_, present)| *present)
        {
            return Err(invalid(
                "anneal",
                format!(
                    "an [anneal] config runs its own sampler; remove the [{}] section",
                    other.0
                ),
            ));
        }
        let flow = match (&file.flow, &file.train) {
            (Some(f), Some(t)) => {
                let mut train = TrainPlan::try_from(t)?;
                train.fab = file
                    .fab
                    .as_ref()
                    .map(lft_sample::fab::FabSettings::try_from)
                    .transpose()?;
                let plan = FlowPlan {
                    spec: f.resolve(&file.lattice.shape, model.is_gauge())?,
                    train,
                    init_from: f.init_from.clone(),
                    pretrain: file
                        .pretrain
                        .as_ref()
                        .map(PretrainPlan::try_from)
                        .transpose()?,
                };
                let continuous =
                    matches!(plan.spec.coupling, lft_flow::CouplingSpec::Continuous(_));
                for (key, fm) in [
                    ("train.objective", plan.train.flow_matching.is_some()),
                    (
                        "pretrain.objective",
                        plan.pretrain
                            .as_ref()
                            .is_some_and(|p| p.flow_matching.is_some()),
                    ),
                ] {
                    if fm && !continuous {
                        return Err(invalid(
                            key,
                            "flow_matching trains a continuous flow's vector field: set \
                             flow.kind = \"continuous\" (coupling flows train by reverse_kl or \
                             forward_kl)",
                        ));
                    }
                }
                if plan.pretrain.is_some() && plan.train.data.is_some() {
                    return Err(invalid(
                        "pretrain",
                        "pretraining precedes reverse-KL training: [train] then has \
                         objective = \"reverse_kl\" and no ensemble",
                    ));
                }
                Some(plan)
            }
            (Some(_), None) => return Err(invalid("train", "a [flow] needs a [train] section")),
            (None, Some(_)) => {
                return Err(invalid("train", "a [train] section needs a [flow] section"));
            }
            (None, None) => None,
        };
        if file.pretrain.is_some() && flow.is_none() && file.anneal.is_none() {
            return Err(invalid(
                "pretrain",
                "a [pretrain] section trains a [flow] before its [train]: it needs both",
            ));
        }
        let hmc = file.hmc.as_ref().map(HmcPlan::try_from).transpose()?;
        let heatbath = file
            .heatbath
            .as_ref()
            .map(HeatbathPlan::try_from)
            .transpose()?;
        let sample = match &file.sample {
            Some(_) if flow.is_none() => {
                return Err(invalid(
                    "sample",
                    "a [sample] section needs a [flow] section",
                ));
            }
            Some(s) => Some(SamplePlan::try_from(s)?),
            None => None,
        };
        let nemcmc = sample.as_ref().map(|s| s.method) == Some(SampleMethod::Nemcmc);
        let snf = match (&file.snf, nemcmc) {
            (Some(s), true) => Some(s.resolve(&file.output.path)?),
            (None, true) => {
                return Err(invalid(
                    "snf",
                    "sample.method = \"nemcmc\" needs an [snf] section (its protocol: at \
                     least `stages`)",
                ));
            }
            (Some(_), false) => {
                return Err(invalid(
                    "snf",
                    "an [snf] section sets the protocol of NE-MCMC: it needs [sample] with \
                     method = \"nemcmc\"",
                ));
            }
            (None, false) => None,
        };
        if snf.as_ref().is_some_and(|s| s.blocks.is_some()) && !matches!(model, Model::Phi4 { .. })
        {
            return Err(invalid(
                "snf.block_layers",
                "training the blocks backpropagates through HMC moves with the action's Hessian, \
                 which φ⁴ provides: use kind = \"phi4\" (or block_layers = 0)",
            ));
        }
        if nemcmc && pseudofermion {
            return Err(invalid(
                "sample.method",
                "NE-MCMC needs the action itself along its path: use fermions = \"exact\" (the \
                 pseudofermion estimators are not supported by \"nemcmc\")",
            ));
        }
        let joint = pf_estimator.is_some_and(|p| p.joint.is_some());
        if pseudofermion
            && !joint
            && sample.as_ref().map(|s| s.method) == Some(SampleMethod::FlowHmc)
        {
            return Err(invalid(
                "sample.method",
                "flow-HMC with the ladder estimator would run its molecular dynamics on the \
                 stochastic pseudofermion force, which is not the gradient of the estimated \
                 action: use method = \"imh\" or \"reweight\", or action.pf_estimator = \
                 \"flow\" (flow-HMC on the joint target: pseudofermion-HMC trajectories), or \
                 fermions = \"exact\"",
            ));
        }
        if joint
            && matches!(model, Model::Schwinger { .. })
            && sample.as_ref().map(|s| s.method) == Some(SampleMethod::FlowHmc)
        {
            return Err(invalid(
                "sample.method",
                "flow-HMC on the joint (θ, ϕ) target is built for the Yukawa model: the \
                 Schwinger model's joint sampler is method = \"imh\" (or \"reweight\")",
            ));
        }
        let mut output = Output::try_from(&file.output)?;
        let base_output = output.path.clone();
        let anneal = file
            .anneal
            .as_ref()
            .map(|a| a.resolve(&base_output, &file.lattice.shape, model.is_gauge()))
            .transpose()?;
        if let Some(task) = file.task {
            output.path = task_file(&base_output, task);
        }
        let slurm = SlurmPlan::try_from(file.slurm.as_ref().unwrap_or(&SlurmConfig::default()))?;
        let device = file
            .run
            .as_ref()
            .map(RunConfig::device)
            .transpose()?
            .flatten();
        Ok(Config {
            file,
            lattice,
            model,
            couplings,
            hmc,
            heatbath,
            flow,
            sample,
            snf,
            anneal,
            output,
            base_output,
            slurm,
            device,
            pf_estimator,
        })
    }
}

/// S(φ) of `model`: the exact one, or the estimated one where there is an estimator.
fn field_action_of(
    model: &Model,
    lattice: &Lattice,
    pf: Option<PfEstimator>,
    seed: u64,
) -> Result<Box<dyn Action>, ConfigError> {
    match pf.and_then(|pf| estimated_action_of(model, lattice, pf, seed)) {
        Some(a) => Ok(a),
        None => model.field_action(lattice),
    }
}

/// The estimated action of a pseudofermion `model` (Yukawa or Schwinger); `None` for any other
/// model.
fn estimated_action_of(
    model: &Model,
    lattice: &Lattice,
    pf: PfEstimator,
    seed: u64,
) -> Option<Box<dyn EstimatedAction>> {
    match *model {
        Model::Yukawa {
            params,
            fermions: crate::Fermions::Pseudofermion(cg),
        } => {
            let yukawa =
                lft_action::Yukawa::new(lattice.clone(), params).expect("checked by resolve");
            Some(Box::new(YukawaEstimated::new(
                yukawa,
                pf.build(cg.action),
                cg.force,
                seed,
            )))
        }
        Model::Schwinger {
            beta,
            mass,
            fermions: crate::Fermions::Pseudofermion(cg),
        } => {
            let schwinger = lft_action::Schwinger::new(lattice.clone(), beta, mass)
                .expect("checked by resolve");
            Some(Box::new(SchwingerEstimated::new(
                schwinger,
                pf.build_gauge(mass, cg.action),
                cg.force,
                seed,
            )))
        }
        _ => None,
    }
}
