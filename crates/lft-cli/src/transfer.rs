//! Volume transfer (`flow.init_from`): a flow trained on one lattice starts training or
//! sampling on another. The conditioners are periodic convolutions, so the same weights define
//! a flow of the same shape on any lattice of the same dimension (gauge flows: any whose
//! extents are multiples of 4). A continuous flow's kernel weights move by orbit
//! ([`lft_flow::KernelField::transfer_params`]): a local kernel's unchanged, a whole-lattice
//! kernel's out to the smaller lattice's half extent, the rest starting at zero. Only a layer
//! with one parameter per momentum (`flow.spectral`) does not carry over, and is refused by
//! its parameter count.

use anyhow::{Context, Result, anyhow, bail};
use lft_config::{Config, Reuse};
use lft_flow::{CouplingSpec, Flow};
use lft_io::checkpoint::read_checkpoint;
use std::path::Path;

/// Where a transferred flow came from, for the reports.
#[derive(Debug, Clone)]
pub(crate) struct Transferred {
    /// The lattice it was trained on.
    pub shape: Vec<usize>,
    /// The training steps it had there.
    pub steps: u64,
}

/// Sets the parameters of `flow` (built for `config`) to those of the checkpoint `path`,
/// after checking that it holds a flow of the same shape and action kind on a lattice of the
/// same dimension.
pub(crate) fn load_into(config: &Config, path: &Path, flow: &mut Flow) -> Result<Transferred> {
    let what = || format!("flow.init_from {}", path.display());
    let ckpt = read_checkpoint(path).with_context(what)?;
    let stored = Config::from_text(&ckpt.config_text, path, &[])
        .with_context(|| format!("{}: its stored config is unreadable", what()))?;
    config.check_reuse(&stored, Reuse::Transfer).map_err(|m| {
        anyhow!(
            "{}: a flow of another shape ({m}); only the lattice size, the couplings and \
                 the training may differ",
            what()
        )
    })?;
    let (from, to) = (stored.lattice().shape(), config.lattice().shape());
    if from.len() != to.len() {
        bail!(
            "{}: trained on a {}-dimensional lattice {from:?}, this one is {}-dimensional {to:?}",
            what(),
            from.len(),
            to.len()
        );
    }
    let params = continuous_params(&stored, config, ckpt.params).with_context(what)?;
    flow.set_params(params).map_err(|e| {
        anyhow!(
            "{}: {e} (a flow.spectral layer has one parameter per momentum, so it does not \
             transfer to another lattice size)",
            what()
        )
    })?;
    Ok(Transferred {
        shape: from.to_vec(),
        steps: ckpt.step,
    })
}

/// The parameters of a continuous flow (without a spectral layer) trained for `stored`, moved
/// onto the orbits of `config`'s lattice; any other flow's as they are.
fn continuous_params(stored: &Config, config: &Config, params: Vec<f64>) -> Result<Vec<f64>> {
    let (from, to) = (&stored.flow()?.spec, &config.flow()?.spec);
    match (from.coupling, to.coupling) {
        (CouplingSpec::Continuous(a), CouplingSpec::Continuous(b))
            if !from.spectral && !to.spectral =>
        {
            let source = a.field(stored.lattice());
            let target = b.field(config.lattice());
            target
                .transfer_params(&source, &params)
                .map_err(|e| anyhow!("the continuous flow's field does not transfer: {e}"))
        }
        _ => Ok(params),
    }
}
