//! Which sampler made a chain, and the record columns that follows from it.

use std::fmt;

/// The sampler of an ensemble. Its [`name`](SamplerKind::name) is the file attribute
/// `sampler`; its [`columns`](SamplerKind::columns) are the float datasets of every chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SamplerKind {
    /// Hybrid Monte Carlo, with the exact action or with pseudofermions.
    Hmc,
    /// Independence Metropolis chains with flow proposals.
    FlowImh,
    /// Independent flow samples with importance weights (every `accepted` is 1).
    FlowReweight,
    /// A flow proposal, then HMC trajectories, in every step of one chain.
    FlowHmc,
    /// The final weighted particles of SMC passes (one pass per chain).
    Smc,
    /// The final weighted particles of AIS passes (no resampling).
    Ais,
    /// The final weighted particles of CRAFT evaluation passes (trained flows frozen).
    Craft,
    /// Particle independent Metropolis–Hastings: a chain of whole passes, one configuration
    /// drawn from the current one per step.
    Pimh,
    /// Heat bath with overrelaxation for gauge fields: one step is a heat-bath sweep over
    /// every link and the overrelaxation sweeps after it.
    Heatbath,
    /// NE-MCMC: independence Metropolis over whole out-of-equilibrium trajectories (a flow
    /// or prior draw annealed to the target by Monte Carlo stages), accepted with
    /// min(1, e^{−(W′ − W)}) on their work W.
    NeMcmc,
}

/// A name that is no [`SamplerKind`] (or no integrator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`", self.what, self.name)
    }
}

impl std::error::Error for UnknownName {}

impl SamplerKind {
    pub const ALL: [SamplerKind; 10] = [
        SamplerKind::Hmc,
        SamplerKind::FlowImh,
        SamplerKind::FlowReweight,
        SamplerKind::FlowHmc,
        SamplerKind::Smc,
        SamplerKind::Ais,
        SamplerKind::Craft,
        SamplerKind::Pimh,
        SamplerKind::Heatbath,
        SamplerKind::NeMcmc,
    ];

    /// The name stored in files: "hmc", "flow-imh", "flow-reweight", "flow-hmc", "smc",
    /// "ais", "craft", "pimh", "heatbath", "nemcmc".
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Hmc => "hmc",
            SamplerKind::FlowImh => "flow-imh",
            SamplerKind::FlowReweight => "flow-reweight",
            SamplerKind::FlowHmc => "flow-hmc",
            SamplerKind::Smc => "smc",
            SamplerKind::Ais => "ais",
            SamplerKind::Craft => "craft",
            SamplerKind::Pimh => "pimh",
            SamplerKind::Heatbath => "heatbath",
            SamplerKind::NeMcmc => "nemcmc",
        }
    }

    /// Inverse of [`SamplerKind::name`].
    pub fn from_name(name: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| UnknownName {
                what: "sampler",
                name: name.to_string(),
            })
    }

    /// The float columns of every record, in the order they are stored (between the
    /// configurations and the accepted flags).
    ///
    /// - HMC: S after the trajectory and ΔH of its proposal.
    /// - Flow IMH and reweighting: S, log q, log w = −S − log q of the current configuration,
    ///   and log w of the proposal made at this step.
    /// - Flow-HMC: S after the step and the number of HMC trajectories it accepted.
    /// - SMC, AIS, CRAFT: S of the particle, its final log weight (unnormalised) and its slot
    ///   in the particle system (the records of a chain are the particles of one pass).
    /// - PIMH: S of the drawn configuration, log Ẑ of the current pass, its index and the
    ///   index of the pass proposed at this step.
    /// - Heat bath: S after the step.
    /// - NE-MCMC: S of the current configuration, the work W of the trajectory that made it
    ///   (its log weight is −W), and the work of the trajectory proposed at this step.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            SamplerKind::Hmc => &["action", "delta_h"],
            SamplerKind::FlowImh | SamplerKind::FlowReweight => {
                &["action", "log_q", "log_weight", "proposal_log_weight"]
            }
            SamplerKind::FlowHmc => &["action", "hmc_accepted"],
            SamplerKind::Smc | SamplerKind::Ais | SamplerKind::Craft => {
                &["action", "log_weight", "particle"]
            }
            SamplerKind::Pimh => &["action", "log_z", "pass", "proposal"],
            SamplerKind::Heatbath => &["action"],
            SamplerKind::NeMcmc => &["action", "work", "proposal_work"],
        }
    }

    /// Index of a column in [`SamplerKind::columns`].
    pub fn column(self, name: &str) -> Option<usize> {
        self.columns().iter().position(|&c| c == name)
    }

    /// Whether the records form Markov chains (autocorrelated); reweighted samples are
    /// independent draws with weights instead.
    pub fn is_markov_chain(self) -> bool {
        !self.is_weighted()
    }

    /// Whether the records carry importance weights (`log_weight`) that an estimate must use.
    pub fn is_weighted(self) -> bool {
        matches!(
            self,
            SamplerKind::FlowReweight | SamplerKind::Smc | SamplerKind::Ais | SamplerKind::Craft
        )
    }

    /// Whether each chain is one annealing pass (its records the final particles).
    pub fn is_annealing_pass(self) -> bool {
        matches!(
            self,
            SamplerKind::Smc | SamplerKind::Ais | SamplerKind::Craft
        )
    }
}

impl fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SamplerKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Self::from_name(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in SamplerKind::ALL {
            assert_eq!(SamplerKind::from_name(k.name()), Ok(k));
        }
        assert!(SamplerKind::from_name("mcmc").is_err());
    }

    #[test]
    fn every_kind_stores_the_action_first() {
        for k in SamplerKind::ALL {
            assert_eq!(k.column("action"), Some(0));
        }
    }
}
