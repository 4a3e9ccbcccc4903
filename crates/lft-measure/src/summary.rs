//! Ensemble averages with Γ-method errors (Wolff), on one or several chains (replicas), or on
//! importance-weighted samples (weighted jackknife).

use crate::fit::{choose_plateau, cosh_fit};
use crate::results::*;
use lft_stats::{
    GammaOptions, GammaResult, StatsError, bin_means, gamma_method, jackknife, weighted_jackknife,
};
use std::collections::BTreeMap;

/// Analyses chains (replicas) of one ensemble.
pub fn analyze(
    chains: &[ChainSeries],
    geometry: &Geometry,
    options: &AnalysisOptions,
    sampler: Option<SamplerSummary>,
) -> Result<Measurement, StatsError> {
    let weighted = chains.iter().any(|c| c.log_weight.is_some());
    if weighted && chains.iter().any(|c| c.log_weight.is_none()) {
        return Err(StatsError::Shape);
    }
    let est = Estimator::new(chains.iter().map(|c| c.log_weight.as_ref()), 1);
    let v = geometry.volume();
    let l0 = geometry.l0();
    let scaled = |f: fn(&ChainSeries) -> &Vec<f64>, k: fn(f64) -> f64| -> Vec<Vec<f64>> {
        chains
            .iter()
            .map(|c| f(c).iter().map(|&x| k(x)).collect())
            .collect()
    };
    let mag = scaled(|c| &c.magnetization, |x| x);
    let phi_bar: Vec<Vec<f64>> = mag
        .iter()
        .map(|s| s.iter().map(|m| m / v).collect())
        .collect();
    let abs_mag: Vec<Vec<f64>> = mag
        .iter()
        .map(|s| s.iter().map(|m| m.abs() / v).collect())
        .collect();
    let m2: Vec<Vec<f64>> = mag
        .iter()
        .map(|s| s.iter().map(|m| m * m / v).collect())
        .collect();
    let m4: Vec<Vec<f64>> = mag
        .iter()
        .map(|s| s.iter().map(|m| (m * m / v).powi(2)).collect())
        .collect();
    let phi2 = scaled(|c| &c.phi2, |x| x);
    let link = scaled(|c| &c.link, |x| x);
    let action: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| c.action.iter().map(|s| s / v).collect())
        .collect();
    let complete = |f: fn(&ChainSeries) -> &Vec<f64>| {
        chains
            .iter()
            .all(|c| !f(c).is_empty() && f(c).len() == c.magnetization.len())
    };
    let condensate = scaled(|c| &c.condensate, |x| x);
    let abs_condensate = scaled(|c| &c.condensate, f64::abs);
    let det_negative = scaled(|c| &c.det_sign, |s| if s < 0.0 { 1.0 } else { 0.0 });

    // Every scalar observable: name, primary series, function of their means.
    type Definition<'a> = (
        &'static str,
        Vec<&'a Vec<Vec<f64>>>,
        Box<dyn Fn(&[f64]) -> f64 + 'a>,
    );
    let mut definitions: Vec<Definition> = vec![
        ("abs_mag", vec![&abs_mag], Box::new(|a| a[0])),
        // ⟨M²⟩/V = V⟨φ̄²⟩, without subtracting ⟨M⟩² (the Yukawa papers' V⟨M²⟩).
        ("mag2", vec![&m2], Box::new(|a| a[0])),
        ("magnetization", vec![&phi_bar], Box::new(|a| a[0])),
        ("phi2", vec![&phi2], Box::new(|a| a[0])),
        ("action_density", vec![&action], Box::new(|a| a[0])),
        // χ₂ = (⟨M²⟩ − ⟨M⟩²)/V, with ⟨φ⟩ from the same ensemble.
        (
            "chi2",
            vec![&m2, &phi_bar],
            Box::new(move |a| a[0] - v * a[1] * a[1]),
        ),
        // (⟨M²⟩ − ⟨|M|⟩²)/V, the susceptibility of the broken phase.
        (
            "chi2_abs",
            vec![&m2, &abs_mag],
            Box::new(move |a| a[0] - v * a[1] * a[1]),
        ),
        // E = (1/d) Σ_μ G_c(μ̂) = ⟨link⟩ − ⟨φ⟩².
        (
            "ising_energy",
            vec![&link, &phi_bar],
            Box::new(|a| a[0] - a[1] * a[1]),
        ),
        // U₄ = 1 − ⟨M⁴⟩/(3⟨M²⟩²).
        (
            "binder",
            vec![&m4, &m2],
            Box::new(|a| 1.0 - a[0] / (3.0 * a[1] * a[1])),
        ),
    ];
    if complete(|c| &c.condensate) {
        definitions.push(("condensate", vec![&condensate], Box::new(|a| a[0])));
        definitions.push(("abs_condensate", vec![&abs_condensate], Box::new(|a| a[0])));
    }
    if complete(|c| &c.det_sign) {
        definitions.push(("det_negative", vec![&det_negative], Box::new(|a| a[0])));
    }
    // The unweighted Γ-method fixes the automatic bin size (and is the answer for plain chains).
    let gammas = definitions
        .iter()
        .map(|(_, data, f)| est.gamma(data, f.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let tau_max = gammas
        .iter()
        .map(|r| r.tau_int)
        .filter(|t| t.is_finite())
        .fold(0.5, f64::max);
    let bin = options
        .bin
        .unwrap_or((4.0 * tau_max).ceil() as usize)
        .max(1);
    let est = Estimator { bin, ..est };
    let mut observables = BTreeMap::new();
    for ((name, data, f), g) in definitions.iter().zip(&gammas) {
        let result = if weighted {
            est.weighted(data, f.as_ref())?
        } else {
            ObservableResult::from(g)
        };
        observables.insert(name.to_string(), result);
    }
    let gamma_of = |name: &str| {
        &gammas[definitions
            .iter()
            .position(|d| d.0 == name)
            .expect("defined")]
    };

    // C(t) and m_eff(t).
    let slice: Vec<Vec<Vec<f64>>> = (0..l0)
        .map(|t| {
            chains
                .iter()
                .map(|c| c.slice_correlator[t].clone())
                .collect()
        })
        .collect();
    let c_scale = v / l0 as f64;
    let mut correlator = Vec::with_capacity(l0);
    for t in 0..l0 {
        let r = est.any(&[&slice[t], &phi_bar], &|a| a[0] - c_scale * a[1] * a[1])?;
        correlator.push(PointResult {
            t,
            value: r.value,
            error: r.error,
        });
    }
    let mut meff: Vec<Option<(f64, f64)>> = vec![None; l0];
    let mut effective_mass = Vec::new();
    for t in 1..l0.saturating_sub(1) {
        let f = |a: &[f64]| {
            let c = |k: usize| a[k] - c_scale * a[3] * a[3];
            ((c(0) + c(2)) / (2.0 * c(1))).acosh()
        };
        if let Ok(r) = est.any(&[&slice[t - 1], &slice[t], &slice[t + 1], &phi_bar], &f)
            && r.value.is_finite()
            && r.error.is_finite()
        {
            meff[t] = Some((r.value, r.error));
            effective_mass.push(PointResult {
                t,
                value: r.value,
                error: r.error,
            });
        }
    }
    let c_val: Vec<f64> = correlator.iter().map(|p| p.value).collect();
    let c_err: Vec<f64> = correlator.iter().map(|p| p.error).collect();
    let range = options
        .fit_range
        .or_else(|| choose_plateau(&c_val, &c_err, &meff, l0));
    let pole_mass = match range {
        Some((t1, t2)) if t2 > t1 && t2 < l0 => {
            est.pole_mass(&slice, &phi_bar, &c_val, &c_err, c_scale, l0, t1, t2)
        }
        _ => None,
    };

    let histories = [
        ("chi2", &m2, gamma_of("chi2")),
        ("abs_mag", &abs_mag, gamma_of("abs_mag")),
    ]
    .into_iter()
    .map(|(k, s, r)| {
        (
            k.to_string(),
            History {
                series: s.clone(),
                rho: r.rho.clone(),
                window: r.window,
            },
        )
    })
    .collect();
    let positive_fraction =
        Some(est.fraction(&scaled(|c| &c.magnetization, |m| f64::from(m > 0.0))));
    let propagator = propagator(chains, geometry, &phi_bar, bin);
    let ess = weighted.then(|| {
        let all: Vec<f64> = chains
            .iter()
            .flat_map(|c| c.log_weight.clone().unwrap_or_default())
            .collect();
        lft_stats::kish_ess(&all)
    });
    let warnings = crate::warnings::warnings(
        sampler.as_ref(),
        positive_fraction.as_ref().filter(|_| options.z2_symmetric),
    );
    Ok(Measurement {
        n_configs: chains.iter().map(|c| c.magnetization.len()).sum(),
        n_chains: chains.len(),
        bin_size: bin,
        weighted,
        ess,
        observables,
        correlator,
        effective_mass,
        pole_mass,
        sampler,
        positive_fraction,
        z2_symmetric: options.z2_symmetric,
        warnings,
        propagator,
        histories,
    })
}

/// Chooses the estimator: Γ-method for plain chains, weighted jackknife for weighted samples.
/// Estimates of functions of the means of per-chain series: the Γ method over chains as
/// replicas, or for weighted samples a jackknife over blocks of `bin` of the pooled samples
/// with their importance weights.
pub(crate) struct Estimator {
    /// The log weights of every sample, chain after chain (weighted samples only).
    pub log_weights: Vec<f64>,
    pub weighted: bool,
    pub bin: usize,
}

impl Estimator {
    /// The estimator of chains with these log weights (all `None`: plain chains), bins of
    /// `bin` samples for the weighted jackknife.
    pub fn new<'a>(log_weights: impl Iterator<Item = Option<&'a Vec<f64>>>, bin: usize) -> Self {
        let mut pooled = Vec::new();
        let mut weighted = false;
        for w in log_weights.flatten() {
            weighted = true;
            pooled.extend_from_slice(w);
        }
        Self {
            log_weights: pooled,
            weighted,
            bin,
        }
    }

    fn gamma(
        &self,
        data: &[&Vec<Vec<f64>>],
        f: &dyn Fn(&[f64]) -> f64,
    ) -> Result<GammaResult, StatsError> {
        let d: Vec<Vec<&[f64]>> = data
            .iter()
            .map(|obs| obs.iter().map(|s| s.as_slice()).collect())
            .collect();
        gamma_method(&d, f, GammaOptions::default())
    }

    /// Weighted samples: all chains pooled, jackknife over blocks of `bin` samples.
    fn weighted(
        &self,
        data: &[&Vec<Vec<f64>>],
        f: &dyn Fn(&[f64]) -> f64,
    ) -> Result<ObservableResult, StatsError> {
        let pooled: Vec<Vec<f64>> = data
            .iter()
            .map(|obs| obs.iter().flatten().copied().collect())
            .collect();
        let refs: Vec<&[f64]> = pooled.iter().map(|s| s.as_slice()).collect();
        let lw = &self.log_weights;
        let blocks = (lw.len() / self.bin).max(2);
        let (value, error) = weighted_jackknife(&refs, lw, blocks, f)?;
        Ok(ObservableResult {
            value,
            error,
            tau_int: 0.5,
            tau_int_error: 0.0,
            error_of_error: 0.0,
            window: 0,
        })
    }

    /// The mean of an indicator series with its error; a series that never changes (a chain
    /// that stays on one side) has error 0 rather than no estimate.
    pub(crate) fn fraction(&self, indicator: &Vec<Vec<f64>>) -> ObservableResult {
        self.any(&[indicator], &|a| a[0]).unwrap_or_else(|_| {
            let n: usize = indicator.iter().map(Vec::len).sum();
            let value = indicator.iter().flatten().sum::<f64>() / n.max(1) as f64;
            ObservableResult {
                value,
                error: 0.0,
                tau_int: 0.5,
                tau_int_error: 0.0,
                error_of_error: 0.0,
                window: 0,
            }
        })
    }

    pub(crate) fn any(
        &self,
        data: &[&Vec<Vec<f64>>],
        f: &dyn Fn(&[f64]) -> f64,
    ) -> Result<ObservableResult, StatsError> {
        if self.weighted {
            self.weighted(data, f)
        } else {
            self.gamma(data, f).map(|g| ObservableResult::from(&g))
        }
    }

    /// Cosh fit on the full means, error from the jackknife over bins (fixed fit weights).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pole_mass(
        &self,
        slice: &[Vec<Vec<f64>>],
        phi_bar: &[Vec<f64>],
        c_val: &[f64],
        c_err: &[f64],
        c_scale: f64,
        l0: usize,
        t1: usize,
        t2: usize,
    ) -> Option<PoleMass> {
        let (m, _, chi2) = cosh_fit(c_val, c_err, l0, t1, t2)?;
        let dof = (t2 - t1 + 1).saturating_sub(2).max(1) as f64;
        // Bins (pooled over chains) of c(t) for every t, and of φ̄ last.
        let mut bins: Vec<Vec<f64>> = slice
            .iter()
            .map(|per_chain| {
                per_chain
                    .iter()
                    .flat_map(|s| bin_means(s, self.bin))
                    .collect()
            })
            .collect();
        bins.push(
            phi_bar
                .iter()
                .flat_map(|s| bin_means(s, self.bin))
                .collect(),
        );
        let fit = |means: &[f64]| {
            let c: Vec<f64> = (0..l0)
                .map(|t| means[t] - c_scale * means[l0] * means[l0])
                .collect();
            cosh_fit(&c, c_err, l0, t1, t2).map_or(f64::NAN, |r| r.0)
        };
        let error = if self.weighted {
            let mut pooled: Vec<Vec<f64>> = slice
                .iter()
                .map(|pc| pc.iter().flatten().copied().collect())
                .collect();
            pooled.push(phi_bar.iter().flatten().copied().collect());
            let refs: Vec<&[f64]> = pooled.iter().map(|s| s.as_slice()).collect();
            let lw = &self.log_weights;
            let blocks = (lw.len() / self.bin).max(2);
            weighted_jackknife(&refs, lw, blocks, fit).map_or(f64::NAN, |r| r.1)
        } else {
            jackknife(&bins, fit).map_or(f64::NAN, |r| r.1)
        };
        Some(PoleMass {
            value: m,
            error,
            fit_range: [t1, t2],
            chi2_per_dof: chi2 / dof,
        })
    }
}

/// G_c(x) with a jackknife over bins of at least `bin` configurations (multiples of the
/// groups in which the two-point function was summed while reading).
fn propagator(
    chains: &[ChainSeries],
    geometry: &Geometry,
    phi_bar: &[Vec<f64>],
    bin: usize,
) -> Option<Propagator> {
    let group = chains.first()?.propagator_bin.max(1);
    if chains
        .iter()
        .any(|c| c.propagator_sums.is_empty() || c.log_weight.is_some())
    {
        return None;
    }
    let per = bin.div_ceil(group); // groups per bin
    let size = per * group;
    let v = geometry.volume() as usize;
    // Bin means of g(x) for every x, and of φ̄.
    let mut g_bins: Vec<Vec<f64>> = vec![Vec::new(); v];
    let mut p_bins = Vec::new();
    for (c, pb) in chains.iter().zip(phi_bar) {
        for (k, groups) in c.propagator_sums.chunks_exact(per).enumerate() {
            for x in 0..v {
                g_bins[x].push(groups.iter().map(|g| g[x]).sum::<f64>() / size as f64);
            }
            p_bins.push(pb[k * size..(k + 1) * size].iter().sum::<f64>() / size as f64);
        }
    }
    if p_bins.len() < 2 {
        return None;
    }
    let mut value = Vec::with_capacity(v);
    let mut error = Vec::with_capacity(v);
    for g in g_bins {
        let (val, err) = jackknife(&[g, p_bins.clone()], |a| a[0] - a[1] * a[1]).ok()?;
        value.push(val);
        error.push(err);
    }
    Some(Propagator {
        shape: geometry.shape.clone(),
        value,
        error,
    })
}
