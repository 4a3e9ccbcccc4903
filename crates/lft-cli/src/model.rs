//! The action of a config, for samplers that need only S(φ) and ∂S/∂φ.

use anyhow::{Result, bail};
use lft_action::{Action, Phi4, Yukawa, YukawaExact};
use lft_io::Config;
use lft_io::config::{Fermions, Model};

/// S(φ) of the config: φ⁴, or the Yukawa model's S_φ⁴ − 2 log|det D| by dense LU. A
/// pseudofermion config has no such action (its ϕ is part of the chain state).
pub fn field_action(config: &Config) -> Result<Box<dyn Action>> {
    let lattice = config.lattice()?;
    Ok(match config.model()? {
        Model::Phi4(p) => Box::new(Phi4::new(lattice, p)?),
        Model::Yukawa {
            params,
            fermions: Fermions::Exact,
        } => Box::new(YukawaExact::new(Yukawa::new(lattice, params)?)),
        Model::Yukawa {
            fermions: Fermions::Pseudofermion(_),
            ..
        } => bail!(
            "action.fermions = \"pseudofermion\" works only with [hmc]; flows and samplers \
             that evaluate S(φ) need fermions = \"exact\""
        ),
    })
}
