//! Whether a stored file (an ensemble, a flow checkpoint) belongs to a config: one rule,
//! one error naming the first key that differs.

use crate::Config;
use std::collections::BTreeMap;
use std::fmt;

/// What a stored file is to be reused for; each purpose ignores the keys that may change.
/// `[run]` (the device) is free for every purpose: it changes results by rounding only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Continuing an ensemble: everything must agree but the run length (`hmc.trajectories`,
    /// `heatbath.sweeps`, `sample.configs`, `anneal.repeats`, `anneal.pimh_steps`), where and how often it is
    /// flushed, the checks that change no result (`train.eval_samples`, the round-trip
    /// check), and `[slurm]`; the task must agree.
    Ensemble,
    /// Training a checkpointed flow further: the seed, lattice, action, `[flow]` and `[train]`
    /// must agree, except `train.steps`, `train.eval_samples`, `flow.precision`, `flow.steps`
    /// (a continuous flow's integration steps: the same vector field, solved finer) and the
    /// determinant estimator's `action.pf_*` keys (the training force does not use it); sampling
    /// settings (`[sample]`, `[snf]`), output settings, the task and `[slurm]` may change (every task of an array samples
    /// with the one trained flow).
    Training,
    /// Sampling with a trained flow (`[sample]` and `[snf]` may change, and how it was trained,
    /// `[train]` and `[pretrain]`): the seed, lattice, action and `[flow]` must agree, except
    /// `flow.precision` (the parameters are float64 whichever type the nets computed in),
    /// `flow.steps` (a continuous flow sampled with a finer solve than it was trained with; a
    /// resumed chain's current weight came from the old solve, a difference of the size of the
    /// integrator error `lft train` reports) and the determinant estimator's `action.pf_*`
    /// keys (a flow serves any estimator).
    Sampling,
    /// Training CRAFT flows further or annealing with them: everything must agree but the
    /// number of iterations and the keys of what is done with the flows afterwards.
    Craft,
    /// Training SNF blocks further or sampling with them: everything must agree but the
    /// number of training steps, how often they are checkpointed, `[sample]`, `[train]` (the
    /// `[flow]`'s own training, unused by a prior start) and where the output goes.
    Snf,
    /// Merging the task files of a job array: everything must agree but the task, the output
    /// and `[slurm]`.
    Merge,
    /// Starting a flow from one trained on another lattice (`flow.init_from`): the action's
    /// kind and `[flow]` must agree, except `flow.init_from`, `flow.precision`, `flow.steps`
    /// and `flow.prior_m2` (a free-field prior is fitted to each lattice); the lattice size, the
    /// couplings, `[train]` and everything else may change.
    Transfer,
}

impl Reuse {
    /// Dotted keys (or whole sections) that may differ.
    fn free_keys(self) -> &'static [&'static str] {
        match self {
            Reuse::Ensemble => &[
                "run",
                "hmc.trajectories",
                "heatbath.sweeps",
                "sample.configs",
                "anneal.repeats",
                "anneal.pimh_steps",
                "anneal.checkpoint_every",
                "output.path",
                "output.flush_seconds",
                "train.eval_samples",
                "sample.inverse_checks",
                "sample.inverse_tol",
                "slurm",
            ],
            Reuse::Training => &[
                "run",
                "train.steps",
                "train.eval_samples",
                "flow.precision",
                "flow.steps",
                "hmc",
                "sample",
                "snf",
                "output",
                "task",
                "slurm",
            ],
            Reuse::Sampling => &[
                "run",
                "hmc",
                "train",
                "pretrain",
                "sample",
                "snf",
                "output",
                "task",
                "slurm",
                "flow.precision",
                "flow.steps",
            ],
            Reuse::Craft => &[
                "run",
                "anneal.method",
                "anneal.iterations",
                "anneal.repeats",
                "anneal.checkpoint",
                "anneal.checkpoint_every",
                "anneal.pimh_steps",
                "anneal.pimh_chains",
                "anneal.pimh_passes",
                "output",
                "task",
                "slurm",
            ],
            Reuse::Snf => &[
                "run",
                "train",
                "pretrain",
                "sample",
                "snf.train_steps",
                "snf.checkpoint_every",
                "output",
                "task",
                "slurm",
            ],
            Reuse::Merge => &["task", "output", "slurm", "run"],
            Reuse::Transfer => &[],
        }
    }

    fn is_free(self, key: &str) -> bool {
        if self == Reuse::Transfer {
            let flow = key.starts_with("flow.")
                && ![
                    "flow.init_from",
                    "flow.precision",
                    "flow.prior_m2",
                    "flow.steps",
                ]
                .contains(&key);
            return !(flow || key == "action.kind");
        }
        if key == "flow.init_from" && matches!(self, Reuse::Training | Reuse::Sampling) {
            return true;
        }
        let estimator = key.starts_with(PF_ESTIMATOR_KEYS);
        if estimator && matches!(self, Reuse::Training | Reuse::Sampling) {
            return true;
        }
        self.free_keys().iter().any(|f| {
            key == *f || (key.starts_with(f) && key.as_bytes().get(f.len()) == Some(&b'.'))
        })
    }
}

/// The prefix of the determinant estimator's keys (`action.pf_draws`, ...).
const PF_ESTIMATOR_KEYS: &str = "action.pf_";

/// The first key in which a stored config differs from the wanted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Dotted key, e.g. `lattice.shape`.
    pub key: String,
    /// Its value in the stored config (`None`: absent there).
    pub stored: Option<String>,
    /// Its value in the wanted config.
    pub wanted: Option<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "absent".into());
        write!(
            f,
            "{} = {} there, {} in this config",
            self.key,
            show(&self.stored),
            show(&self.wanted)
        )
    }
}

impl std::error::Error for Mismatch {}

/// Every leaf of a TOML table by dotted key (arrays are leaves).
fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            v => {
                out.insert(key, v.clone());
            }
        }
    }
}

fn leaves(c: &Config) -> BTreeMap<String, toml::Value> {
    let table: toml::Table = toml::from_str(&c.to_toml()).expect("a Config always round-trips");
    let mut out = BTreeMap::new();
    flatten("", &table, &mut out);
    out
}

impl Config {
    /// Whether a file made with `stored` can be reused by this config for `purpose`: `Ok`, or
    /// the first differing key (in sorted order) that the purpose does not allow to change.
    pub fn check_reuse(&self, stored: &Config, purpose: Reuse) -> Result<(), Mismatch> {
        let (a, b) = (leaves(stored), leaves(self));
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (x, y) = (a.get(key), b.get(key));
            if x != y && !purpose.is_free(key) {
                return Err(Mismatch {
                    key: key.clone(),
                    stored: x.map(ToString::to_string),
                    wanted: y.map(ToString::to_string),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const HMC: &str = r#"
seed = 1
[lattice]
shape = [8, 8]
[action]
kind = "phi4"
m2 = -4.0
lambda = 8.0
[hmc]
trajectories = 100
[output]
path = "a.h5"
"#;

    fn config(overrides: &[&str]) -> Config {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Config::from_text(HMC, Path::new("test.toml"), &o).unwrap()
    }

    #[test]
    fn the_run_length_may_grow_but_physics_may_not_change() {
        let stored = config(&[]);
        assert_eq!(
            config(&["hmc.trajectories=500"]).check_reuse(&stored, Reuse::Ensemble),
            Ok(())
        );
        let e = config(&["lattice.shape=[8,10]", "hmc.steps=20"])
            .check_reuse(&stored, Reuse::Ensemble)
            .unwrap_err();
        assert_eq!(
            e.key, "hmc.steps",
            "the first differing key in sorted order"
        );
        assert_eq!(e.stored.as_deref(), Some("10"));
        assert_eq!(e.to_string(), "hmc.steps = 10 there, 20 in this config");
        let e = config(&["lattice.shape=[8,10]"])
            .check_reuse(&stored, Reuse::Ensemble)
            .unwrap_err();
        assert_eq!(e.key, "lattice.shape");
    }

    #[test]
    fn absent_keys_are_named() {
        let stored = config(&[]);
        let e = config(&["action.m2=-3.0"]).check_reuse(&stored, Reuse::Sampling);
        assert_eq!(e.unwrap_err().key, "action.m2");
        let e = config(&["seed=2"]).check_reuse(&stored, Reuse::Sampling);
        assert_eq!(e.unwrap_err().key, "seed");
        assert_eq!(
            config(&["hmc.steps=3"]).check_reuse(&stored, Reuse::Sampling),
            Ok(()),
            "[hmc] does not matter for a flow"
        );
        assert!(!Reuse::Training.is_free("train.stepsize"));
        assert!(Reuse::Training.is_free("output.path"));
    }

    /// A flow moves to another lattice size, couplings and training; its own shape and the
    /// action's kind may not change.
    #[test]
    fn a_transfer_keeps_the_flow_and_the_action_kind() {
        assert!(Reuse::Transfer.is_free("lattice.shape"));
        assert!(Reuse::Transfer.is_free("action.m2"));
        assert!(Reuse::Transfer.is_free("train.lr"));
        assert!(Reuse::Transfer.is_free("seed"));
        assert!(Reuse::Transfer.is_free("flow.init_from"));
        assert!(Reuse::Transfer.is_free("flow.prior_m2"));
        assert!(!Reuse::Transfer.is_free("flow.layers"));
        assert!(!Reuse::Transfer.is_free("flow.hidden"));
        assert!(!Reuse::Transfer.is_free("action.kind"));
        assert!(Reuse::Training.is_free("flow.init_from"));
        assert!(Reuse::Sampling.is_free("flow.init_from"));
        assert!(!Reuse::Ensemble.is_free("flow.init_from"));
    }

    /// The device changes results by rounding only: a file made on one continues on another.
    #[test]
    fn the_device_is_free_for_every_reuse() {
        let stored = config(&[]);
        let gpu = config(&["run.device=\"cuda:1\""]);
        assert_eq!(gpu.device(), Some(lft_cuda::Device::Cuda(1)));
        assert_eq!(stored.device(), None);
        for purpose in [
            Reuse::Ensemble,
            Reuse::Training,
            Reuse::Sampling,
            Reuse::Craft,
            Reuse::Snf,
            Reuse::Merge,
            Reuse::Transfer,
        ] {
            assert_eq!(gpu.check_reuse(&stored, purpose), Ok(()), "{purpose:?}");
            assert_eq!(stored.check_reuse(&gpu, purpose), Ok(()), "{purpose:?}");
        }
        assert!(
            gpu.to_toml().contains("device = \"cuda:1\""),
            "{}",
            gpu.to_toml()
        );
        let o = vec!["run.device=\"gpu\"".to_string()];
        let e = Config::from_text(HMC, Path::new("test.toml"), &o).unwrap_err();
        assert!(e.to_string().contains("run.device"), "{e}");
        assert!(e.to_string().contains("\"gpu\""), "{e}");
    }
}
