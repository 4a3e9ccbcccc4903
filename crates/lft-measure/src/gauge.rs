//! Observables of U(1) gauge ensembles (docs/PHYSICS.md, "2D U(1) gauge theory"), every chain
//! of every file a replica, with Γ-method errors (or, for importance-weighted samples, a
//! jackknife over blocks with the weights):
//!
//! - the average plaquette ⟨cos θ_P⟩ (`plaquette`) and ⟨S⟩/V (`action_density`);
//! - the geometric charge Q = (1/2π) Σ_P wrap(θ_P): ⟨Q⟩ (`topological_charge`), ⟨Q²⟩ (`q2`),
//!   χ_t = ⟨Q²⟩/V (`chi_t`), and its distribution (`charge_histogram`); every configuration's Q
//!   must be an integer to 1e-9, else the file is not U(1) link angles (a named error);
//! - Wilson loops W(R, T) = ⟨cos(Σ of the plaquette angles of an R × T rectangle)⟩ for
//!   R ≤ L1/2, T ≤ L0/2 (`wilson_loops`), and Creutz ratios
//!   χ(R, T) = −log[W(R,T) W(R−1,T−1) / (W(R,T−1) W(R−1,T))], W(0, ·) = 1 (`creutz_ratios`);
//! - the Polyakov loop P̄ = (1/L1) Σ_{x₁} e^{iΣ_{x₀} θ_0} (`polyakov`: ⟨Re P̄⟩, 0 by symmetry)
//!   and its correlator ⟨Re P(x) P*(x + r)⟩ (`polyakov_correlator`).
//!
//! A loop's phase is the sum of the enclosed plaquette angles, read off a periodic summed-area
//! table of the plaquette angles: every R × T loop at every site in O(1).

use crate::CondensateMethod;
use crate::ensemble::{FermionChoice, MeasureError, MeasureOptions, NOISE_SEED, SamplerTotals};
use crate::results::{ObservableResult, SamplerSummary};
use crate::schwinger::{
    SchwingerMeasurer, SchwingerResults, SchwingerSeries, SchwingerValues, analyze_schwinger,
};
use crate::summary::Estimator;
use lft_fermion::FermionError;
use lft_io::{EnsembleReader, StoredCouplings};
use lft_lattice::Lattice;
use lft_lattice::gauge::{plaquette_angle, polyakov_angles, wrap_plaquette};
use lft_lattice::stream_rng;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::f64::consts::TAU;

/// Configurations read per batch.
const BATCH: usize = 512;

/// How far from an integer a stored configuration's charge may be.
const CHARGE_TOLERANCE: f64 = 1e-9;

/// A Wilson loop or Creutz ratio of extent R × T.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoopResult {
    pub r: usize,
    pub t: usize,
    pub value: f64,
    pub error: f64,
}

/// How often a charge occurred.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChargeCount {
    pub q: i64,
    pub count: usize,
    /// count / N (weighted for importance-weighted samples).
    pub fraction: f64,
    /// The standard error of `fraction` (Γ method over the chains, or the weighted jackknife).
    pub error: f64,
}

/// A value at spatial separation r.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SeparationResult {
    pub r: usize,
    pub value: f64,
    pub error: f64,
}

/// Everything `lft measure` reports for a U(1) ensemble (pure gauge or Schwinger model).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GaugeMeasurement {
    /// "u1".
    pub field: &'static str,
    /// "u1" or "schwinger".
    pub action: String,
    pub beta: f64,
    /// The fermionic observables of a Schwinger-model ensemble (`condensate`,
    /// `pion_correlator`, `pion_mass`, … at the top level of the JSON).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub fermions: Option<SchwingerResults>,
    pub n_configs: usize,
    pub n_chains: usize,
    pub weighted: bool,
    /// `plaquette`, `action_density`, `topological_charge`, `q2`, `chi_t`, `polyakov`.
    pub observables: BTreeMap<String, ObservableResult>,
    pub charge_histogram: Vec<ChargeCount>,
    /// Changes of Q between consecutive stored configurations of a chain, per pair (how often
    /// a Markov chain moves between topological sectors; 0 for a frozen chain). None for
    /// weighted samples, whose records are not a chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge_changes: Option<f64>,
    pub wilson_loops: Vec<LoopResult>,
    pub creutz_ratios: Vec<LoopResult>,
    pub polyakov_correlator: Vec<SeparationResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler: Option<SamplerSummary>,
    /// Q of every configuration, per chain (for plots).
    #[serde(skip)]
    pub charge_history: Vec<Vec<i64>>,
}

/// Per configuration: plaquette, S/V, Q, W(R, T) for R = 1 … r_max, T = 1 … t_max (R fastest),
/// Re P̄, and the Polyakov correlator for r = 0 … L1/2.
struct ConfigValues {
    plaquette: f64,
    q: i64,
    loops: Vec<f64>,
    polyakov: f64,
    polyakov_correlator: Vec<f64>,
}

fn config_values(
    lattice: &Lattice,
    theta: &[f64],
    (r_max, t_max): (usize, usize),
) -> Result<ConfigValues, f64> {
    let (l0, l1) = (lattice.shape()[0], lattice.shape()[1]);
    let v = lattice.volume();
    let angles: Vec<f64> = (0..v)
        .map(|x| plaquette_angle(lattice, theta, x, 0, 1))
        .collect();
    let plaquette = angles.iter().map(|a| a.cos()).sum::<f64>() / v as f64;
    let q = angles.iter().map(|&a| wrap_plaquette(a)).sum::<f64>() / TAU;
    if (q - q.round()).abs() > CHARGE_TOLERANCE || !q.is_finite() {
        return Err(q);
    }
    // Summed-area table of the plaquette angles over the doubled (periodic) lattice:
    // sat[a][b] = Σ_{i<a, j<b} θ_P(i mod L0, j mod L1).
    let (h, w) = (l0 + t_max, l1 + r_max);
    let mut sat = vec![0.0; (h + 1) * (w + 1)];
    for a in 0..h {
        for b in 0..w {
            let p = angles[lattice.index(&[a % l0, b % l1])];
            sat[(a + 1) * (w + 1) + b + 1] =
                p + sat[a * (w + 1) + b + 1] + sat[(a + 1) * (w + 1) + b] - sat[a * (w + 1) + b];
        }
    }
    let rect = |a: usize, b: usize, t: usize, r: usize| {
        sat[(a + t) * (w + 1) + b + r] - sat[a * (w + 1) + b + r] - sat[(a + t) * (w + 1) + b]
            + sat[a * (w + 1) + b]
    };
    let mut loops = Vec::with_capacity(r_max * t_max);
    for t in 1..=t_max {
        for r in 1..=r_max {
            let mut sum = 0.0;
            for a in 0..l0 {
                for b in 0..l1 {
                    sum += rect(a, b, t, r).cos();
                }
            }
            loops.push(sum / v as f64);
        }
    }
    let p = polyakov_angles(lattice, theta);
    let polyakov = p.iter().map(|a| a.cos()).sum::<f64>() / l1 as f64;
    let polyakov_correlator = (0..=l1 / 2)
        .map(|r| (0..l1).map(|x| (p[x] - p[(x + r) % l1]).cos()).sum::<f64>() / l1 as f64)
        .collect();
    Ok(ConfigValues {
        plaquette,
        q: q.round() as i64,
        loops,
        polyakov,
        polyakov_correlator,
    })
}

/// The series of one chain.
#[derive(Default)]
struct GaugeSeries {
    plaquette: Vec<f64>,
    action: Vec<f64>,
    q: Vec<i64>,
    /// `loops[k][i]`: loop k of configuration i.
    loops: Vec<Vec<f64>>,
    polyakov: Vec<f64>,
    polyakov_correlator: Vec<Vec<f64>>,
    log_weight: Option<Vec<f64>>,
    /// The fermionic series of a Schwinger-model ensemble.
    fermions: SchwingerSeries,
}

/// The gauge series of chain `chain` of `r`, and with a `measurer` the fermionic ones; the
/// noise of configuration i of replica `replica` comes from stream (replica << 40) + i.
fn read_chain(
    r: &EnsembleReader,
    lattice: &Lattice,
    (chain, replica): (usize, usize),
    skip: usize,
    extents: (usize, usize),
    measurer: Option<&SchwingerMeasurer>,
) -> Result<GaugeSeries, MeasureError> {
    let n = r.chain_len(chain)?;
    let start = skip.min(n);
    let len = r.meta().volume();
    let actions = r.read_action(chain)?;
    let mut s = GaugeSeries {
        loops: vec![Vec::new(); extents.0 * extents.1],
        polyakov_correlator: vec![Vec::new(); lattice.shape()[1] / 2 + 1],
        ..GaugeSeries::default()
    };
    let mut i = start;
    while i < n {
        let count = BATCH.min(n - i);
        let configs = r.read_configs(chain, i, count)?;
        type Values = (
            Result<ConfigValues, f64>,
            Option<Result<SchwingerValues, FermionError>>,
        );
        let values: Vec<Values> = configs
            .par_chunks_exact(len)
            .enumerate()
            .map(|(k, theta)| {
                let stream = ((replica as u64) << 40) + (i + k) as u64;
                let fermions =
                    measurer.map(|m| m.measure(theta, &mut stream_rng(NOISE_SEED, stream)));
                (config_values(lattice, theta, extents), fermions)
            })
            .collect();
        for (k, (value, fermions)) in values.into_iter().enumerate() {
            if let Some(f) = fermions {
                s.fermions.push(f.map_err(|e| MeasureError::Incompatible {
                    path: r.path().to_path_buf(),
                    message: format!(
                        "chain {chain}, configuration {}: the fermion observables failed: {e}",
                        i + k
                    ),
                })?);
            }
            let c = value.map_err(|q| MeasureError::Incompatible {
                path: r.path().to_path_buf(),
                message: format!(
                    "chain {chain}, configuration {}: the geometric charge is {q}, not an \
                     integer: the file does not hold U(1) link angles (damaged?)",
                    i + k
                ),
            })?;
            s.plaquette.push(c.plaquette);
            s.action.push(actions[i + k] / lattice.volume() as f64);
            s.q.push(c.q);
            for (series, w) in s.loops.iter_mut().zip(&c.loops) {
                series.push(*w);
            }
            s.polyakov.push(c.polyakov);
            for (series, p) in s.polyakov_correlator.iter_mut().zip(&c.polyakov_correlator) {
                series.push(*p);
            }
        }
        i += count;
    }
    s.log_weight = r
        .meta()
        .sampler
        .is_weighted()
        .then(|| r.read_f64_records(chain, "log_weight"))
        .transpose()?
        .map(|w| w[start..].to_vec());
    Ok(s)
}

/// Measures U(1) files (each a `field = "u1"` ensemble) as replicas of one ensemble, with
/// the fermionic observables of Schwinger-model files (unless `options.fermions` is off).
pub(crate) fn measure_gauge(
    readers: &[EnsembleReader],
    options: &MeasureOptions,
) -> Result<GaugeMeasurement, MeasureError> {
    let (skip, bin) = (options.skip, options.bin);
    let meta = readers[0].meta().clone();
    let StoredCouplings::U1 { beta, .. } = meta.couplings else {
        unreachable!("dispatched on the field")
    };
    let path = readers[0].path().to_path_buf();
    let lattice = Lattice::new(&meta.shape).map_err(|e| MeasureError::Incompatible {
        path: path.clone(),
        message: format!("bad lattice_shape: {e}"),
    })?;
    if lattice.dim() != 2 {
        return Err(MeasureError::Incompatible {
            path,
            message: format!(
                "the U(1) observables (geometric charge, loops) are those of 2D fields; this \
                 lattice is {:?}",
                meta.shape
            ),
        });
    }
    let extents = (lattice.shape()[1] / 2, lattice.shape()[0] / 2);
    let fermion_mass = meta.gauge_fermions().map(|f| f.mass);
    let method = match options.fermions {
        FermionChoice::Off => None,
        FermionChoice::Auto => Some(CondensateMethod::default_for(lattice.volume())),
        FermionChoice::Method(m) => Some(m),
    };
    let measurer = match (fermion_mass, method) {
        (Some(mass), Some(method)) => {
            Some(SchwingerMeasurer::new(&lattice, mass, method).map_err(|e| {
                MeasureError::Incompatible {
                    path: path.clone(),
                    message: format!("the fermion observables: {e}"),
                }
            })?)
        }
        _ => None,
    };
    let mut chains = Vec::new();
    let mut sampler = SamplerTotals::default();
    let mut replica = 0;
    for r in readers {
        for c in 0..r.meta().n_chains {
            let s = read_chain(r, &lattice, (c, replica), skip, extents, measurer.as_ref())?;
            replica += 1;
            if s.plaquette.len() >= 2 {
                chains.push(s);
            }
            sampler.add(r, c, skip)?;
            // What was not read (generator states, rows skipped) is checked too.
            r.check_unread(c)?;
        }
    }
    if chains.is_empty() {
        return Err(MeasureError::Analysis(format!(
            "fewer than 2 configurations per chain after skipping {skip}"
        )));
    }
    let weighted = chains.iter().any(|c| c.log_weight.is_some());
    let passes = meta.sampler.is_annealing_pass() && chains.len() >= 2;
    let bin = match bin {
        None if passes => chains[0].plaquette.len(),
        b => b.unwrap_or(1),
    };
    let est = Estimator::new(chains.iter().map(|c| c.log_weight.as_ref()), bin);
    let v = lattice.volume() as f64;
    let column =
        |f: &dyn Fn(&GaugeSeries) -> Vec<f64>| -> Vec<Vec<f64>> { chains.iter().map(f).collect() };
    let mut observables = BTreeMap::new();
    let q = column(&|c| c.q.iter().map(|&q| q as f64).collect());
    let q2 = column(&|c| c.q.iter().map(|&q| (q * q) as f64).collect());
    let series = [
        ("plaquette", column(&|c| c.plaquette.clone())),
        ("action_density", column(&|c| c.action.clone())),
        ("polyakov", column(&|c| c.polyakov.clone())),
    ];
    for (name, data) in &series {
        observables.insert(name.to_string(), est.fraction(data));
    }
    observables.insert("topological_charge".into(), est.fraction(&q));
    let q2_result = est.fraction(&q2);
    observables.insert("q2".into(), q2_result);
    observables.insert(
        "chi_t".into(),
        ObservableResult {
            value: q2_result.value / v,
            error: q2_result.error / v,
            error_of_error: q2_result.error_of_error / v,
            ..q2_result
        },
    );
    let loop_columns: Vec<Vec<Vec<f64>>> = (0..extents.0 * extents.1)
        .map(|k| column(&|c| c.loops[k].clone()))
        .collect();
    let (r_max, t_max) = extents;
    let mut wilson_loops = Vec::new();
    for t in 1..=t_max {
        for r in 1..=r_max {
            let o = est.fraction(&loop_columns[(t - 1) * r_max + r - 1]);
            wilson_loops.push(LoopResult {
                r,
                t,
                value: o.value,
                error: o.error,
            });
        }
    }
    // χ(R, T) from the four loops, W(0, ·) = W(·, 0) = 1 (a constant series).
    let ones: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| vec![1.0; c.plaquette.len()])
        .collect();
    let at = |r: usize, t: usize| -> &Vec<Vec<f64>> {
        if r == 0 || t == 0 {
            &ones
        } else {
            &loop_columns[(t - 1) * r_max + r - 1]
        }
    };
    let mut creutz_ratios = Vec::new();
    for t in 1..=t_max {
        for r in 1..=r_max {
            let data = [at(r, t), at(r - 1, t - 1), at(r, t - 1), at(r - 1, t)];
            let f = |m: &[f64]| -((m[0] * m[1]) / (m[2] * m[3])).ln();
            // A ratio of loops too small to resolve (or a constant series) has no estimate.
            if let Ok(o) = est.any(&data, &f)
                && o.value.is_finite()
            {
                creutz_ratios.push(LoopResult {
                    r,
                    t,
                    value: o.value,
                    error: o.error,
                });
            }
        }
    }
    let polyakov_correlator = (0..=lattice.shape()[1] / 2)
        .map(|r| {
            let o = est.fraction(&column(&|c| c.polyakov_correlator[r].clone()));
            SeparationResult {
                r,
                value: o.value,
                error: o.error,
            }
        })
        .collect();
    let mut counts: BTreeMap<i64, (usize, f64)> = BTreeMap::new();
    let all_q: Vec<i64> = chains.iter().flat_map(|c| c.q.iter().copied()).collect();
    let weights: Vec<f64> = if weighted {
        lft_stats::normalized_weights(&est.log_weights)
    } else {
        vec![1.0 / all_q.len() as f64; all_q.len()]
    };
    for (&q, w) in all_q.iter().zip(&weights) {
        let e = counts.entry(q).or_default();
        e.0 += 1;
        e.1 += w;
    }
    let charge_histogram = counts
        .into_iter()
        .map(|(q, (count, fraction))| ChargeCount {
            q,
            count,
            fraction,
            error: est
                .fraction(&column(&|c| {
                    c.q.iter().map(|&x| f64::from(x == q)).collect()
                }))
                .error,
        })
        .collect();
    let (changes, pairs) = chains.iter().fold((0usize, 0usize), |(c, p), s| {
        let ch = s.q.windows(2).filter(|w| w[0] != w[1]).count();
        (c + ch, p + s.q.len() - 1)
    });
    let fermions = measurer.as_ref().map(|m| {
        let series: Vec<&SchwingerSeries> = chains.iter().map(|c| &c.fermions).collect();
        analyze_schwinger(
            &est,
            &series,
            fermion_mass.expect("a measurer has a mass"),
            m.method(),
            lattice.shape()[0],
            options.fit_range,
        )
    });
    Ok(GaugeMeasurement {
        field: "u1",
        action: meta.action_kind.clone(),
        beta,
        fermions,
        n_configs: all_q.len(),
        n_chains: chains.len(),
        weighted,
        observables,
        charge_histogram,
        charge_changes: (!weighted).then(|| changes as f64 / pairs.max(1) as f64),
        wilson_loops,
        creutz_ratios,
        polyakov_correlator,
        sampler: sampler.summary(),
        charge_history: chains.into_iter().map(|c| c.q).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lft_lattice::gauge::{polyakov_angles, rectangle_angle, topological_charge};
    use lft_lattice::{stream_rng, uniform};

    /// The summed-area loops equal the loops walked link by link, Q and P̄ their definitions.
    #[test]
    fn loops_from_the_summed_area_table_equal_walked_loops() {
        let lattice = Lattice::new(&[6, 8]).unwrap();
        let v = lattice.volume();
        let mut rng = stream_rng(3, 0);
        let theta: Vec<f64> = (0..2 * v)
            .map(|_| 3.0 * (2.0 * uniform(&mut rng) - 1.0))
            .collect();
        let extents = (4, 3);
        let c = config_values(&lattice, &theta, extents).unwrap();
        for t in 1..=3 {
            for r in 1..=4 {
                let walked = (0..v)
                    .map(|x| rectangle_angle(&lattice, &theta, x, (1, r), (0, t)).cos())
                    .sum::<f64>()
                    / v as f64;
                let got = c.loops[(t - 1) * 4 + r - 1];
                assert!(
                    (got - walked).abs() < 1e-12,
                    "W({r}, {t}): {got} vs {walked}"
                );
            }
        }
        assert_eq!(c.q as f64, topological_charge(&lattice, &theta).round());
        let p = polyakov_angles(&lattice, &theta);
        let re = p.iter().map(|a| a.cos()).sum::<f64>() / 8.0;
        assert!((c.polyakov - re).abs() < 1e-14);
        assert!((c.polyakov_correlator[0] - 1.0).abs() < 1e-14);
        // A non-finite angle (a damaged file) gives no integer charge.
        let mut bad = theta.clone();
        bad[5] = f64::NAN;
        assert!(config_values(&lattice, &bad, extents).is_err());
    }
}
