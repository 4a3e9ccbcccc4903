//! Measuring ensemble files: one or several files, each with one or several chains, all
//! treated as replicas of one ensemble.

use crate::fermion::{CondensateMethod, FermionMeasurer, FermionObservables};
use crate::observables::{config_observables, two_point};
use crate::{AnalysisOptions, ChainSeries, Geometry, Measurement, SamplerSummary, analyze};
use lft_io::{EnsembleError, EnsembleMeta, EnsembleReader, OnDamage, SamplerKind};
use lft_lattice::{Complex64, Lattice, LatticeFft, stream_rng};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a measurement could not be made.
#[derive(Debug, Error)]
pub enum MeasureError {
    #[error(transparent)]
    File(#[from] EnsembleError),
    #[error("{path}: {message}")]
    Incompatible { path: PathBuf, message: String },
    #[error("cannot measure: {0}")]
    Analysis(String),
}

/// Options of `lft measure`.
#[derive(Debug, Clone, Default)]
pub struct MeasureOptions {
    /// Configurations dropped at the start of every chain.
    pub skip: usize,
    /// Bin size of the jackknife (None: automatic).
    pub bin: Option<usize>,
    /// Pole-mass fit range [t₁, t₂] (None: automatic plateau).
    pub fit_range: Option<(usize, usize)>,
    /// Fermionic observables of Yukawa ensembles.
    pub fermions: FermionChoice,
    /// What reading a damaged round does: stop (default) or leave it out.
    pub on_damage: OnDamage,
}

/// Whether and how `lft measure` computes the condensate of Yukawa ensembles.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum FermionChoice {
    /// [`CondensateMethod::default_for`] the volume.
    #[default]
    Auto,
    Method(CondensateMethod),
    /// Skip the fermionic observables.
    Off,
}

/// Seed of the noise vectors of the stochastic condensate; configuration i of replica r draws
/// from stream (r << 40) + i, so results do not depend on batching or threads.
pub(crate) const NOISE_SEED: u64 = 0x5EED_F00D_CAFE;

/// Configurations read per batch.
const BATCH: usize = 1024;
/// At most this many groups of summed two-point functions are kept per chain (memory bound).
const MAX_GROUPS: usize = 256;

/// Measures the files as replicas of one ensemble: every chain of every file is one replica.
/// Scalar fields only: a U(1) ensemble is a named error ([`measure`] takes either).
pub fn measure_files(
    paths: &[PathBuf],
    options: &MeasureOptions,
) -> Result<Measurement, MeasureError> {
    let readers = paths
        .iter()
        .map(|p| EnsembleReader::open_with(p, options.on_damage))
        .collect::<Result<Vec<_>, _>>()?;
    let first = readers
        .first()
        .ok_or_else(|| MeasureError::Analysis("no files given".into()))?;
    let meta = first.meta().clone();
    if meta.is_gauge() {
        return Err(MeasureError::Incompatible {
            path: first.path().to_path_buf(),
            message: "holds U(1) link angles, not a scalar field: its observables are the \
                      gauge ones (lft measure, lft_measure::measure)"
                .into(),
        });
    }
    for r in &readers[1..] {
        check_compatible(first.path(), &meta, r.path(), r.meta())?;
    }
    let lattice = Lattice::new(&meta.shape).map_err(|e| MeasureError::Incompatible {
        path: first.path().to_path_buf(),
        message: format!("bad lattice_shape: {e}"),
    })?;
    let mut lengths = Vec::new();
    for r in &readers {
        for c in 0..r.meta().n_chains {
            lengths.push(r.chain_len(c)?.saturating_sub(options.skip));
        }
    }
    let longest = lengths.iter().copied().max().unwrap_or(0);
    let group = longest.div_ceil(MAX_GROUPS).max(1);
    let fft = LatticeFft::new(&lattice);
    let fermions = match (meta.fermions(), options.fermions) {
        (Some(f), FermionChoice::Auto) => {
            Some((f, CondensateMethod::default_for(lattice.volume())))
        }
        (Some(f), FermionChoice::Method(m)) => Some((f, m)),
        _ => None,
    };
    let measurer = fermions
        .map(|(f, method)| FermionMeasurer::new(&lattice, f.mass, f.g, method))
        .transpose()
        .map_err(|e| MeasureError::Incompatible {
            path: first.path().to_path_buf(),
            message: format!("fermion operator: {e}"),
        })?;
    let mut chains = Vec::new();
    let mut sampler = SamplerTotals::default();
    for r in &readers {
        for c in 0..r.meta().n_chains {
            let replica = chains.len();
            let fermion = measurer.as_ref().map(|m| (m, replica));
            chains.push(read_chain(
                r,
                &lattice,
                &fft,
                c,
                options.skip,
                group,
                fermion,
            )?);
            sampler.add(r, c, options.skip)?;
            // What was not read (generator states, rows skipped) is checked too.
            r.check_unread(c)?;
        }
    }
    if chains.iter().all(|c| c.magnetization.len() < 2) {
        return Err(MeasureError::Analysis(format!(
            "fewer than 2 configurations per chain after skipping {}",
            options.skip
        )));
    }
    chains.retain(|c| c.magnetization.len() >= 2);
    let geometry = Geometry {
        shape: meta.shape.clone(),
    };
    // The particles of one annealing pass are correlated (resampling copies them): errors
    // come from the spread between passes, one jackknife block per pass.
    let passes = meta.sampler.is_annealing_pass() && chains.len() >= 2;
    let bin = match options.bin {
        None if passes => Some(chains[0].magnetization.len()),
        b => b,
    };
    let analysis = AnalysisOptions {
        bin,
        fit_range: options.fit_range,
        z2_symmetric: meta_is_z2_symmetric(&meta),
    };
    analyze(&chains, &geometry, &analysis, sampler.summary())
        .map_err(|e| MeasureError::Analysis(e.to_string()))
}

fn read_chain(
    reader: &EnsembleReader,
    lattice: &Lattice,
    fft: &LatticeFft,
    chain: usize,
    skip: usize,
    group: usize,
    fermion: Option<(&FermionMeasurer, usize)>,
) -> Result<ChainSeries, MeasureError> {
    let n = reader.chain_len(chain)?;
    let v = lattice.volume();
    let start = skip.min(n);
    let actions = reader.read_action(chain)?;
    let mut builder = SeriesBuilder::new(lattice, fft, group);
    let mut i = start;
    while i < n {
        let count = BATCH.min(n - i);
        let configs = reader.read_configs(chain, i, count)?;
        for (k, phi) in configs.chunks_exact(v).enumerate() {
            builder.push(phi, actions[i + k]);
        }
        if let Some((measurer, replica)) = fermion {
            let first = i;
            let results: Vec<Result<FermionObservables, _>> = configs
                .par_chunks_exact(v)
                .enumerate()
                .map_init(
                    || measurer.clone(),
                    |m, (k, phi)| {
                        let stream = ((replica as u64) << 40) + (first + k) as u64;
                        m.measure(phi, &mut stream_rng(NOISE_SEED, stream))
                    },
                )
                .collect();
            for (k, o) in results.into_iter().enumerate() {
                let o = o.map_err(|e| MeasureError::Incompatible {
                    path: reader.path().to_path_buf(),
                    message: format!("chain {chain}, configuration {}: {e}", first + k),
                })?;
                builder.push_fermion(&o);
            }
        }
        i += count;
    }
    // Reweighted flow samples carry their importance weights.
    let log_weights = reader
        .meta()
        .sampler
        .is_weighted()
        .then(|| reader.read_f64_records(chain, "log_weight"))
        .transpose()?
        .map(|w| w[start..].to_vec());
    Ok(builder.finish_weighted(log_weights))
}

/// Accumulates the per-configuration observables of one chain.
pub struct SeriesBuilder<'a> {
    lattice: &'a Lattice,
    fft: &'a LatticeFft,
    series: ChainSeries,
    scratch: Vec<Complex64>,
    g: Vec<f64>,
    acc: Vec<f64>,
    in_group: usize,
}

impl<'a> SeriesBuilder<'a> {
    /// Two-point functions are summed over groups of `group` configurations.
    pub fn new(lattice: &'a Lattice, fft: &'a LatticeFft, group: usize) -> Self {
        let v = lattice.volume();
        let series = ChainSeries {
            slice_correlator: vec![Vec::new(); lattice.shape()[0]],
            propagator_bin: group.max(1),
            ..Default::default()
        };
        Self {
            lattice,
            fft,
            series,
            scratch: vec![Complex64::default(); v],
            g: vec![0.0; v],
            acc: vec![0.0; v],
            in_group: 0,
        }
    }

    /// Adds one configuration with its action.
    pub fn push(&mut self, phi: &[f64], action: f64) {
        let s = &mut self.series;
        let o = config_observables(self.lattice, phi);
        s.magnetization.push(o.magnetization);
        s.phi2.push(o.phi2);
        s.link.push(o.link);
        s.action.push(action);
        for (t, c) in o.slice_correlator.into_iter().enumerate() {
            s.slice_correlator[t].push(c);
        }
        two_point(self.fft, phi, &mut self.scratch, &mut self.g);
        self.acc.iter_mut().zip(&self.g).for_each(|(a, x)| *a += x);
        self.in_group += 1;
        if self.in_group == s.propagator_bin {
            let v = self.acc.len();
            s.propagator_sums
                .push(std::mem::replace(&mut self.acc, vec![0.0; v]));
            self.in_group = 0;
        }
    }

    /// Adds the fermionic observables of the configuration pushed last.
    pub fn push_fermion(&mut self, o: &FermionObservables) {
        self.series.condensate.push(o.condensate);
        if let Some(sign) = o.det_sign {
            self.series.det_sign.push(sign);
        }
    }

    /// The series; `log_weights` marks them as importance-weighted samples.
    pub fn finish_weighted(mut self, log_weights: Option<Vec<f64>>) -> ChainSeries {
        self.series.log_weight = log_weights;
        self.series
    }

    pub fn finish(self) -> ChainSeries {
        self.finish_weighted(None)
    }
}

/// Acceptance statistics summed over chains.
#[derive(Default)]
pub(crate) struct SamplerTotals {
    accepted: usize,
    total: usize,
    /// HMC: Σ ΔH, Σ e^{−ΔH} and their count.
    sum_dh: f64,
    sum_exp: f64,
    n_dh: usize,
    /// Flow independence Metropolis and NE-MCMC: the log weights of every proposal.
    proposal_log_weights: Vec<f64>,
    longest_rejection_run: usize,
    /// Annealing: log Ẑ of each pass (the log-sum-exp of its stored log weights).
    log_z: Vec<f64>,
}

impl SamplerTotals {
    pub(crate) fn add(
        &mut self,
        r: &EnsembleReader,
        c: usize,
        skip: usize,
    ) -> Result<(), EnsembleError> {
        let acc = r.read_accepted(c)?;
        let keep = skip.min(acc.len());
        let acc = &acc[keep..];
        self.accepted += acc.iter().filter(|&&a| a).count();
        self.total += acc.len();
        let mut run = 0;
        for &a in acc {
            run = if a { 0 } else { run + 1 };
            self.longest_rejection_run = self.longest_rejection_run.max(run);
        }
        match r.meta().sampler {
            // The acceptance above is the flow proposals'; the HMC part has its own count. A
            // heat bath accepts every step.
            SamplerKind::FlowHmc | SamplerKind::Pimh | SamplerKind::Heatbath => {}
            // A pass stores log W_i + log Ẑ: its weights sum to Ẑ (all particles, not skipped).
            SamplerKind::Smc | SamplerKind::Ais | SamplerKind::Craft => self.log_z.push(
                lft_stats::log_sum_exp(&r.read_f64_records(c, "log_weight")?),
            ),
            SamplerKind::FlowImh | SamplerKind::FlowReweight => self
                .proposal_log_weights
                .extend_from_slice(&r.read_f64_records(c, "proposal_log_weight")?[keep..]),
            // A trajectory's log weight is −W.
            SamplerKind::NeMcmc => self.proposal_log_weights.extend(
                r.read_f64_records(c, "proposal_work")?[keep..]
                    .iter()
                    .map(|w| -w),
            ),
            SamplerKind::Hmc => {
                let dh = r.read_delta_h(c)?;
                let dh = &dh[keep..];
                self.sum_dh += dh.iter().sum::<f64>();
                self.sum_exp += dh.iter().map(|x| (-x).exp()).sum::<f64>();
                self.n_dh += dh.len();
            }
        }
        Ok(())
    }

    pub(crate) fn summary(&self) -> Option<SamplerSummary> {
        let n_dh = self.n_dh as f64;
        (self.total > 0).then(|| SamplerSummary {
            acceptance: self.accepted as f64 / self.total as f64,
            mean_delta_h: (self.n_dh > 0).then(|| self.sum_dh / n_dh),
            mean_exp_minus_delta_h: (self.n_dh > 0).then(|| self.sum_exp / n_dh),
            ess: (!self.proposal_log_weights.is_empty())
                .then(|| lft_stats::kish_ess(&self.proposal_log_weights)),
            pareto_k: lft_stats::pareto_k_hat(&self.proposal_log_weights),
            longest_rejection_run: self.longest_rejection_run,
            log_z: crate::results::LogZ::from_passes(&self.log_z),
        })
    }
}

/// Whether the ensemble's action is Z₂-symmetric: φ⁴ without an external field, and the
/// Yukawa model with massless fermions (lft_action::Yukawa::is_z2_symmetric).
fn meta_is_z2_symmetric(meta: &EnsembleMeta) -> bool {
    match (&meta.couplings, meta.fermions()) {
        (lft_io::StoredCouplings::Scalar { h, .. }, None) => {
            meta.action_kind == "phi4" && *h == 0.0
        }
        (_, Some(f)) => f.mass == 0.0,
        _ => false,
    }
}

/// Replicas must be the same physics: lattice, action and couplings.
pub(crate) fn check_compatible(
    p0: &Path,
    m0: &EnsembleMeta,
    path: &Path,
    m: &EnsembleMeta,
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
    let (c0, c) = (m0.couplings.named_values(), m.couplings.named_values());
    for ((name, a), (_, b)) in c0.into_iter().zip(c) {
        if (a - b).abs() > 1e-12 * a.abs().max(1.0) {
            return Err(differs(name, a.to_string(), b.to_string()));
        }
    }
    Ok(())
}
