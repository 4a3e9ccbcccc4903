//! The training data of forward KL and flow matching: an ensemble file's configurations.

use anyhow::{Context, Result, bail};
use tracing::info;

/// Every configuration of every chain of the ensemble at `path`, checked against the
/// lattice `shape`; errors name the config `key`, and the log line says which objective
/// trains on it.
pub fn load_data(
    path: &std::path::Path,
    shape: &[usize],
    key: &str,
    flow_matching: bool,
) -> Result<Vec<f64>> {
    if !path.exists() {
        bail!(
            "{key} {}: no such file; write the ensemble first (`lft run` with an [hmc] config of \
             the same lattice and action)",
            path.display()
        );
    }
    let r =
        lft_io::EnsembleReader::open(path).with_context(|| format!("{key} {}", path.display()))?;
    if r.meta().shape != shape {
        bail!(
            "{key} {}: lattice {:?} differs from this config's {:?}",
            path.display(),
            r.meta().shape,
            shape
        );
    }
    let mut data = Vec::new();
    for c in 0..r.meta().n_chains {
        let n = r.chain_len(c)?;
        data.extend(r.read_configs(c, 0, n)?);
    }
    if data.is_empty() {
        bail!("{key} {}: holds no configurations", path.display());
    }
    info!(
        "{} on {} configurations of {}",
        objective_name(flow_matching),
        data.len() / r.meta().volume(),
        path.display()
    );
    Ok(data)
}

/// The name of a data objective in log lines and summaries.
pub fn objective_name(flow_matching: bool) -> &'static str {
    if flow_matching {
        "flow matching"
    } else {
        "forward KL"
    }
}
