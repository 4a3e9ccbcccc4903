//! Measuring ensemble files: one or several files, each with one or several chains, all
//! treated as replicas of one ensemble.

use crate::observables::config_observables;
use crate::summary::{ChainSeries, Measurement, SamplerSummary, analyze};
use lft_io::{EnsembleError, EnsembleReader};
use lft_lattice::Lattice;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a measurement could not be made.
#[derive(Debug, Error)]
pub enum MeasureError {
    #[error(transparent)]
    File(#[from] EnsembleError),
    #[error("{path}: {message}")]
    Incompatible { path: PathBuf, message: String },
    #[error("not enough configurations to measure: {0}")]
    TooFew(String),
}

/// Options of `lft measure`.
#[derive(Debug, Clone, Default)]
pub struct MeasureOptions {
    /// Configurations dropped at the start of every chain.
    pub skip: usize,
    /// Bin size of the jackknife (None: automatic).
    pub bin: Option<usize>,
}

/// Configurations read per batch.
const BATCH: usize = 1024;

/// Measures the files as replicas of one ensemble: every chain of every file is one replica.
pub fn measure_files(
    paths: &[PathBuf],
    options: &MeasureOptions,
) -> Result<Measurement, MeasureError> {
    let mut chains = Vec::new();
    let mut first: Option<(PathBuf, lft_io::EnsembleMeta)> = None;
    let (mut accepted, mut total, mut sum_dh, mut sum_exp) = (0usize, 0usize, 0.0, 0.0);
    for path in paths {
        let reader = EnsembleReader::open(path)?;
        let meta = reader.meta().clone();
        match &first {
            None => first = Some((path.clone(), meta.clone())),
            Some((p0, m0)) => check_compatible(p0, m0, path, &meta)?,
        }
        let lattice = Lattice::new(&meta.shape).map_err(|e| MeasureError::Incompatible {
            path: path.clone(),
            message: format!("bad lattice_shape: {e}"),
        })?;
        for c in 0..meta.n_chains {
            chains.push(read_chain(&reader, &lattice, c, options.skip)?);
            let acc = reader.read_accepted(c)?;
            let dh = reader.read_delta_h(c)?;
            let keep = options.skip.min(acc.len());
            accepted += acc[keep..].iter().filter(|&&a| a).count();
            total += acc.len() - keep;
            sum_dh += dh[keep..].iter().sum::<f64>();
            sum_exp += dh[keep..].iter().map(|x| (-x).exp()).sum::<f64>();
        }
    }
    let (_, meta) = first.ok_or_else(|| MeasureError::TooFew("no files given".into()))?;
    let n = total.max(1) as f64;
    let sampler = (total > 0).then(|| SamplerSummary {
        acceptance: accepted as f64 / n,
        mean_delta_h: sum_dh / n,
        mean_exp_minus_delta_h: sum_exp / n,
    });
    analyze(&chains, meta.volume(), options.bin, sampler)
        .map_err(|e| MeasureError::TooFew(e.to_string()))
}

fn read_chain(
    reader: &EnsembleReader,
    lattice: &Lattice,
    chain: usize,
    skip: usize,
) -> Result<ChainSeries, MeasureError> {
    let n = reader.chain_len(chain)?;
    let v = lattice.volume();
    let mut s = ChainSeries {
        action: reader.read_action(chain)?.split_off(skip.min(n)),
        ..Default::default()
    };
    let mut start = skip.min(n);
    while start < n {
        let count = BATCH.min(n - start);
        let configs = reader.read_configs(chain, start, count)?;
        for phi in configs.chunks_exact(v) {
            let o = config_observables(lattice, phi);
            s.magnetization.push(o.magnetization);
            s.phi2.push(o.phi2);
            s.link.push(o.link);
        }
        start += count;
    }
    Ok(s)
}

/// Replicas must be the same physics: lattice, action and couplings.
fn check_compatible(
    p0: &Path,
    m0: &lft_io::EnsembleMeta,
    path: &Path,
    m: &lft_io::EnsembleMeta,
) -> Result<(), MeasureError> {
    let differs = |what: &str, a: String, b: String| MeasureError::Incompatible {
        path: path.to_path_buf(),
        message: format!(
            "{what} is {b}, but {} has {a}: not replicas of one ensemble",
            p0.display()
        ),
    };
    if m.shape != m0.shape {
        return Err(differs(
            "lattice_shape",
            format!("{:?}", m0.shape),
            format!("{:?}", m.shape),
        ));
    }
    if m.action_kind != m0.action_kind {
        return Err(differs(
            "action",
            m0.action_kind.clone(),
            m.action_kind.clone(),
        ));
    }
    for (name, a, b) in [("m2", m0.m2, m.m2), ("lambda", m0.lambda, m.lambda)] {
        if (a - b).abs() > 1e-12 * a.abs().max(1.0) {
            return Err(differs(name, a.to_string(), b.to_string()));
        }
    }
    Ok(())
}
