//! Observables of a scan as continuous functions of a coupling that enters the action
//! linearly: the ensembles of one volume at couplings c_k, reweighted by MBAR
//! ([`lft_stats::Reweighter`]; one ensemble: single-histogram reweighting).
//!
//! | key                  | S_c = S_0 + c A, A =                 | field of the curves        |
//! |----------------------|--------------------------------------|----------------------------|
//! | `action.m2`          | Σ_x φ_x²                             | φ (AKS)                    |
//! | `action.lambda`      | Σ_x φ_x⁴                             | φ (AKS)                    |
//! | `action.h`           | −Σ_x φ_x                             | φ (AKS)                    |
//! | `action.kappa`       | −2 Σ_{x,μ} φ̃_x φ̃_{x+μ̂}               | φ̃ = φ/√κ, reported as φ    |
//! | `action.lambda_tilde`| Σ_x (φ̃_x² − 1)²                      | φ̃ = φ/√κ, reported as φ    |
//! | `action.beta`        | Σ_P (1 − cos θ_P)                    | U(1) links                 |
//!
//! Stored scalar configurations are φ in the AKS normalisation; in the hopping form φ = √κ φ̃,
//! and the action is linear in κ for fixed φ̃. The curves along κ are those of φ = √κ φ̃ at
//! each κ (χ₂ ∝ κ, ⟨|M|⟩ ∝ √κ, U₄ unchanged), so they pass through the per-point results.

use crate::MeasureError;
use lft_io::{EnsembleReader, OnDamage, StoredCouplings};
use lft_lattice::Lattice;
use lft_lattice::gauge::{plaquette_angles, wrap_plaquette};
use lft_stats::{JackknifeCurve, LinearFamily, Reweighted, Reweighter};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::f64::consts::TAU;
use std::path::Path;

/// A coupling that enters the action linearly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearCoupling {
    M2,
    Lambda,
    H,
    Kappa,
    LambdaTilde,
    Beta,
}

impl LinearCoupling {
    /// The coupling of a config key, if it enters the action linearly.
    pub fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "action.m2" => Self::M2,
            "action.lambda" => Self::Lambda,
            "action.h" => Self::H,
            "action.kappa" => Self::Kappa,
            "action.lambda_tilde" => Self::LambdaTilde,
            "action.beta" => Self::Beta,
            _ => return None,
        })
    }

    /// The keys that can be reweighted, for messages.
    pub const KEYS: &'static str = "action.m2, action.lambda, action.h (φ⁴), action.kappa, \
                                    action.lambda_tilde (its hopping form), action.beta (U(1), \
                                    Schwinger)";

    fn is_hopping(self) -> bool {
        matches!(self, Self::Kappa | Self::LambdaTilde)
    }

    fn is_gauge(self) -> bool {
        self == Self::Beta
    }

    /// The names of the observables on the curves.
    pub fn observables(self) -> &'static [&'static str] {
        if self.is_gauge() {
            &["plaquette", "chi_t"]
        } else {
            &["abs_mag", "mag2", "chi2", "binder", "phi2"]
        }
    }
}

/// One ensemble of a scan, as reweighting needs it: its coupling, A(x) of every
/// configuration, and the primary series of the curves' observables (chains one after the
/// other).
#[derive(Debug, Clone)]
pub struct PointSeries {
    pub coupling: f64,
    pub conjugate: Vec<f64>,
    /// Scalar: |M̃|/V, M̃²/V, (M̃²/V)², M̃/V, (1/V)Σφ̃² with φ̃ = φ/√κ of the ensemble in the
    /// hopping form, φ̃ = φ otherwise. U(1): the average plaquette, Q²/V.
    pub primaries: Vec<Vec<f64>>,
    pub volume: usize,
}

/// Reads the configurations of `path` (after `skip` per chain) into the series of `coupling`;
/// damaged rounds stop the read or are left out, as `on_damage` says.
pub fn read_point(
    path: &Path,
    coupling: LinearCoupling,
    skip: usize,
    on_damage: OnDamage,
) -> Result<PointSeries, MeasureError> {
    let reader = EnsembleReader::open_with(path, on_damage)?;
    let meta = reader.meta().clone();
    let incompatible = |message: String| MeasureError::Incompatible {
        path: path.to_path_buf(),
        message,
    };
    if meta.sampler.is_weighted() {
        return Err(incompatible(format!(
            "sampler `{}` gives importance-weighted samples; reweighting between couplings \
             takes Markov chains of e^{{-S}} (HMC, heat bath, flow Metropolis)",
            meta.sampler
        )));
    }
    let lattice = Lattice::new(&meta.shape).map_err(|e| incompatible(e.to_string()))?;
    let value = match (&meta.couplings, coupling) {
        (StoredCouplings::U1 { beta, .. }, LinearCoupling::Beta) => *beta,
        (StoredCouplings::Scalar { m2, .. }, LinearCoupling::M2) => *m2,
        (StoredCouplings::Scalar { lambda, .. }, LinearCoupling::Lambda) => *lambda,
        (StoredCouplings::Scalar { h, .. }, LinearCoupling::H) => *h,
        (StoredCouplings::Scalar { kappa, .. }, LinearCoupling::Kappa) => *kappa,
        (StoredCouplings::Scalar { lambda_tilde, .. }, LinearCoupling::LambdaTilde) => {
            *lambda_tilde
        }
        _ => {
            return Err(incompatible(format!(
                "a {} ensemble has no coupling {coupling:?}",
                meta.field()
            )));
        }
    };
    // φ̃ = φ / √κ in the hopping form.
    let scale = match (&meta.couplings, coupling.is_hopping()) {
        (StoredCouplings::Scalar { kappa, .. }, true) => 1.0 / kappa.sqrt(),
        _ => 1.0,
    };
    let v = lattice.volume();
    let d = lattice.dim();
    let fwd = lattice.fwd_table();
    let mut out = PointSeries {
        coupling: value,
        conjugate: Vec::new(),
        primaries: vec![Vec::new(); if coupling.is_gauge() { 2 } else { 5 }],
        volume: v,
    };
    for chain in 0..meta.n_chains {
        let n = reader.chain_len(chain)?;
        let start = skip.min(n);
        if start == n {
            continue;
        }
        let configs = reader.read_configs(chain, start, n - start)?;
        for x in configs.chunks_exact(meta.volume()) {
            if coupling.is_gauge() {
                let angles = plaquette_angles(&lattice, x);
                let cos: f64 = angles.iter().map(|a| a.cos()).sum();
                let q = angles.iter().map(|&a| wrap_plaquette(a)).sum::<f64>() / TAU;
                out.conjugate.push(angles.len() as f64 - cos);
                out.primaries[0].push(cos / angles.len() as f64);
                out.primaries[1].push(q.round().powi(2) / v as f64);
                continue;
            }
            let (mut m, mut p2, mut p4, mut link) = (0.0, 0.0, 0.0, 0.0);
            for (site, &raw) in x.iter().enumerate() {
                let p = raw * scale;
                m += p;
                p2 += p * p;
                p4 += p * p * p * p;
                link += p * fwd[site * d..site * d + d]
                    .iter()
                    .map(|&y| x[y as usize] * scale)
                    .sum::<f64>();
            }
            let vf = v as f64;
            out.conjugate.push(match coupling {
                LinearCoupling::M2 => p2,
                LinearCoupling::Lambda => p4,
                LinearCoupling::H => -m,
                LinearCoupling::Kappa => -2.0 * link,
                LinearCoupling::LambdaTilde => p4 - 2.0 * p2 + vf,
                LinearCoupling::Beta => unreachable!("handled above"),
            });
            let m2 = m * m / vf;
            for (series, value) in
                out.primaries
                    .iter_mut()
                    .zip([m.abs() / vf, m2, m2 * m2, m / vf, p2 / vf])
            {
                series.push(value);
            }
        }
    }
    for chain in 0..meta.n_chains {
        // What was not read (generator states, columns, rows skipped) is checked too.
        reader.check_unread(chain)?;
    }
    if out.conjugate.len() < 2 {
        return Err(incompatible(format!(
            "fewer than 2 configurations after skipping {skip} per chain"
        )));
    }
    Ok(out)
}

/// The value of observable `name` at coupling c from the reweighted primary means `a`.
fn observable(coupling: LinearCoupling, volume: f64, name: &str, c: f64, a: &[f64]) -> f64 {
    // φ = √κ φ̃ along κ: moments of φ of order 2k carry κ^k.
    let s2 = if coupling == LinearCoupling::Kappa {
        c
    } else {
        1.0
    };
    match name {
        "plaquette" => a[0],
        "chi_t" => a[1],
        "abs_mag" => s2.sqrt() * a[0],
        "mag2" => s2 * a[1],
        "chi2" => s2 * (a[1] - volume * a[3] * a[3]),
        "binder" => 1.0 - a[2] / (3.0 * a[1] * a[1]),
        "phi2" => s2 * a[4],
        other => unreachable!("no observable {other}"),
    }
}

/// The ensembles of one volume along one coupling, solved by MBAR.
pub struct ReweightedFamily {
    coupling: LinearCoupling,
    volume: f64,
    reweighter: Reweighter,
    /// The pooled primaries.
    pooled: Vec<Vec<f64>>,
    /// Samples per ensemble.
    counts: Vec<usize>,
}

/// The curves of a family on a grid of couplings.
#[derive(Debug, Clone)]
pub struct Curves {
    pub coupling: Vec<f64>,
    /// Per observable, its estimate at each coupling.
    pub observables: BTreeMap<String, Vec<Reweighted>>,
    /// log Z(c) − log Z(c_first) (the first, smallest coupling of the family).
    pub log_z: Vec<Reweighted>,
}

/// Below this fraction of the largest ensemble's samples, the weights' ESS at a coupling is
/// too little overlap to trust the curve there.
pub const MIN_OVERLAP: f64 = 0.1;

impl ReweightedFamily {
    /// Combines the ensembles `points` (one volume, sorted by coupling) with a jackknife of
    /// `blocks` blocks per ensemble.
    pub fn new(
        coupling: LinearCoupling,
        mut points: Vec<PointSeries>,
        blocks: usize,
    ) -> Result<Self, MeasureError> {
        points.sort_by(|a, b| a.coupling.total_cmp(&b.coupling));
        let volume = points.first().map_or(1, |p| p.volume) as f64;
        let counts: Vec<usize> = points.iter().map(|p| p.conjugate.len()).collect();
        let blocks = blocks.min(counts.iter().copied().min().unwrap_or(0));
        let family = LinearFamily {
            couplings: points.iter().map(|p| p.coupling).collect(),
            conjugate: points.iter().map(|p| p.conjugate.clone()).collect(),
        };
        let reweighter = Reweighter::new(family, blocks)
            .map_err(|e| MeasureError::Analysis(format!("MBAR: {e}")))?;
        let n_primaries = points.first().map_or(0, |p| p.primaries.len());
        let pooled = (0..n_primaries)
            .map(|j| {
                points
                    .iter()
                    .flat_map(|p| p.primaries[j].iter().copied())
                    .collect()
            })
            .collect();
        Ok(ReweightedFamily {
            coupling,
            volume,
            reweighter,
            pooled,
            counts,
        })
    }

    /// The couplings of the ensembles (ascending).
    pub fn couplings(&self) -> &[f64] {
        self.reweighter.couplings()
    }

    /// The largest ensemble's samples.
    pub fn largest(&self) -> usize {
        self.counts.iter().copied().max().unwrap_or(0)
    }

    fn pooled(&self) -> Vec<&[f64]> {
        self.pooled.iter().map(Vec::as_slice).collect()
    }

    /// Observable `name` at c on jackknife sample `sample` (None: all data).
    pub fn value_in(&self, name: &str, sample: Option<usize>, c: f64) -> f64 {
        let (means, _) = self.reweighter.means_in(sample, c, &self.pooled());
        observable(self.coupling, self.volume, name, c, &means)
    }

    /// Every observable and log Z at each coupling of `grid`, with jackknife errors (the
    /// couplings in parallel).
    pub fn curves(&self, grid: &[f64]) -> Curves {
        let names = self.coupling.observables();
        let pooled = self.pooled();
        let blocks = self.reweighter.blocks();
        let first = self.couplings()[0];
        let log_z0: Vec<f64> = (0..blocks)
            .map(|b| self.reweighter.log_z_difference_in(Some(b), first))
            .collect();
        let log_z0_full = self.reweighter.log_z_difference_in(None, first);
        let at: Vec<(Vec<Reweighted>, Reweighted)> = grid
            .par_iter()
            .map(|&c| {
                let (full, ess) = self.reweighter.means_in(None, c, &pooled);
                let samples: Vec<Vec<f64>> = (0..blocks)
                    .map(|b| self.reweighter.means_in(Some(b), c, &pooled).0)
                    .collect();
                let observables = names
                    .iter()
                    .map(|name| {
                        let jack: Vec<f64> = samples
                            .iter()
                            .map(|m| observable(self.coupling, self.volume, name, c, m))
                            .collect();
                        Reweighted {
                            value: observable(self.coupling, self.volume, name, c, &full),
                            error: lft_stats::reweight::jackknife_error(&jack),
                            ess,
                        }
                    })
                    .collect();
                let dz: Vec<f64> = (0..blocks)
                    .map(|b| self.reweighter.log_z_difference_in(Some(b), c) - log_z0[b])
                    .collect();
                let log_z = Reweighted {
                    value: self.reweighter.log_z_difference_in(None, c) - log_z0_full,
                    error: lft_stats::reweight::jackknife_error(&dz),
                    ess,
                };
                (observables, log_z)
            })
            .collect();
        let mut observables: BTreeMap<String, Vec<Reweighted>> = BTreeMap::new();
        for (j, name) in names.iter().enumerate() {
            observables.insert(name.to_string(), at.iter().map(|(o, _)| o[j]).collect());
        }
        Curves {
            coupling: grid.to_vec(),
            observables,
            log_z: at.into_iter().map(|(_, z)| z).collect(),
        }
    }

    /// The jackknifed curve of observable `name`, for [`lft_stats::crossing`].
    pub fn crossing_of<'a>(
        a: &'a ReweightedFamily,
        b: &'a ReweightedFamily,
        name: &'a str,
        grid: &[f64],
    ) -> Option<lft_stats::Crossing> {
        let fa = move |s: Option<usize>, c: f64| a.value_in(name, s, c);
        let fb = move |s: Option<usize>, c: f64| b.value_in(name, s, c);
        lft_stats::crossing(
            &JackknifeCurve {
                blocks: a.reweighter.blocks(),
                at: &fa,
            },
            &JackknifeCurve {
                blocks: b.reweighter.blocks(),
                at: &fb,
            },
            grid,
        )
    }
}

/// `points` evenly spaced couplings from the smallest to the largest of `couplings`.
pub fn coupling_grid(couplings: &[f64], points: usize) -> Vec<f64> {
    let lo = couplings.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = couplings.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if points < 2 || hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    (0..points)
        .map(|i| lo + (hi - lo) * i as f64 / (points - 1) as f64)
        .collect()
}
