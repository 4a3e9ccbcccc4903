//! Fermionic observables of Schwinger-model configurations (D(θ) = m + K(θ), N_f = 2
//! staggered; docs/PHYSICS.md), per configuration:
//!
//! - the condensate Σ = (1/V) Re tr D⁻¹ (both tastes of the one staggered field);
//! - the connected pion correlator C(t) = (1/N_src) Σ_y Σ_{x: x₀ = y₀ + t} |D⁻¹(x, y)|²
//!   (the Goldstone pion of staggered fermions, cosh-like in t), over even sources y;
//! - the timeslice sums s(t) = Σ_{x: x₀ = t} Re (D⁻¹)_{xx}, whose correlations give the
//!   disconnected part ⟨s(t₀) s(t₀ + t)⟩ − ⟨s⟩² (exact method only).
//!
//! Exactly ([`CondensateMethod::Exact`]: [`EvenBlockInverse`], every even site a source) or
//! stochastically (Z₂ noise on even sites for Σ = (2m/V) ⟨ξ†M_ee⁻¹ξ⟩, and as many random
//! even point sources for C(t), each by CG on M_ee = m² − K_eo K_oe).

use crate::summary::Estimator;
use crate::{CondensateMethod, ObservableResult, PointResult, PoleMass, choose_plateau};
use lft_fermion::{
    CgScratch, Complex64, EvenBlockInverse, FermionError, GaugeDirac, GaugeStaggered,
    STAGNATION_FLOOR, solve_from_zero,
};
use lft_lattice::{Lattice, Pcg64};
use rand_core::Rng;
use serde::Serialize;

/// The fermionic values of one configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SchwingerValues {
    pub condensate: f64,
    /// C(t), t = 0 … L₀ − 1.
    pub pion: Vec<f64>,
    /// s(t), t = 0 … L₀ − 1 (exact method only).
    pub slices: Option<Vec<f64>>,
}

/// Measures the fermionic observables of one lattice's configurations.
#[derive(Debug, Clone)]
pub(crate) struct SchwingerMeasurer {
    geometry: GaugeStaggered,
    mass: f64,
    method: CondensateMethod,
    /// The time coordinate of every site.
    time: Vec<usize>,
}

impl SchwingerMeasurer {
    pub fn new(
        lattice: &Lattice,
        mass: f64,
        method: CondensateMethod,
    ) -> Result<Self, FermionError> {
        let time = (0..lattice.volume())
            .map(|x| lattice.coords(x)[0])
            .collect();
        Ok(Self {
            geometry: GaugeStaggered::new(lattice)?,
            mass,
            method,
            time,
        })
    }

    pub fn method(&self) -> CondensateMethod {
        self.method
    }

    fn l0(&self) -> usize {
        self.geometry.lattice().shape()[0]
    }

    /// The values of link configuration `theta`; `rng` draws the noise and the sources of
    /// the stochastic method.
    pub fn measure(&self, theta: &[f64], rng: &mut Pcg64) -> Result<SchwingerValues, FermionError> {
        let dirac = self.geometry.dirac(self.mass, theta);
        match self.method {
            CondensateMethod::Exact => self.exact(&dirac),
            CondensateMethod::Stochastic { noise_vectors, cg } => {
                self.stochastic(&dirac, noise_vectors, cg, rng)
            }
        }
    }

    fn exact(&self, dirac: &GaugeDirac) -> Result<SchwingerValues, FermionError> {
        let inv = EvenBlockInverse::of(dirac)?;
        let (l0, v) = (self.l0(), self.geometry.volume());
        let mut pion = vec![0.0; l0];
        for &y in self.geometry.even_sites() {
            let y = y as usize;
            for x in 0..v {
                let t = (self.time[x] + l0 - self.time[y]) % l0;
                pion[t] += inv.inverse_from_even(x, y).norm_sqr();
            }
        }
        let sources = self.geometry.half_volume() as f64;
        pion.iter_mut().for_each(|c| *c /= sources);
        let mut slices = vec![0.0; l0];
        for (x, d) in inv.diagonal().into_iter().enumerate() {
            slices[self.time[x]] += d;
        }
        Ok(SchwingerValues {
            condensate: inv.trace() / v as f64,
            pion,
            slices: Some(slices),
        })
    }

    fn stochastic(
        &self,
        dirac: &GaugeDirac,
        n: usize,
        cg: lft_fermion::CgParams,
        rng: &mut Pcg64,
    ) -> Result<SchwingerValues, FermionError> {
        let g = &self.geometry;
        let half = g.half_volume();
        let zero = Complex64::default();
        let mut scratch = CgScratch::new(half);
        let (mut b, mut x, mut odd) = (vec![zero; half], vec![zero; half], vec![zero; half]);
        let mut solve = |b: &[Complex64], x: &mut [Complex64]| {
            solve_from_zero(dirac, b, x, cg, STAGNATION_FLOOR, &mut scratch)
        };
        // Σ = (2m/V) ⟨Re ξ†M_ee⁻¹ξ⟩ over Z₂ noise on even sites.
        let mut sum = 0.0;
        for _ in 0..n {
            for chunk in b.chunks_mut(64) {
                let bits = rng.next_u64();
                for (i, e) in chunk.iter_mut().enumerate() {
                    *e = Complex64::new(if bits >> i & 1 == 1 { 1.0 } else { -1.0 }, 0.0);
                }
            }
            solve(&b, &mut x)?;
            sum += b
                .iter()
                .zip(&x)
                .map(|(b, x)| (b.conj() * x).re)
                .sum::<f64>();
        }
        let v = g.volume() as f64;
        let condensate = 2.0 * self.mass * sum / (n as f64 * v);
        // C(t) from n random even point sources: G_e = m M_ee⁻¹δ_y, G_o = −K_oe M_ee⁻¹δ_y.
        let l0 = self.l0();
        let mut pion = vec![0.0; l0];
        for _ in 0..n {
            let j = (rng.next_u64() % half as u64) as usize;
            b.fill(zero);
            b[j] = Complex64::new(1.0, 0.0);
            solve(&b, &mut x)?;
            dirac.hop_even_to_odd(&x, &mut odd);
            let t0 = self.time[g.even_sites()[j] as usize];
            let m2 = self.mass * self.mass;
            for (sites, values, scale) in [(g.even_sites(), &x, m2), (g.odd_sites(), &odd, 1.0)] {
                for (&site, z) in sites.iter().zip(values.iter()) {
                    let t = (self.time[site as usize] + l0 - t0) % l0;
                    pion[t] += scale * z.norm_sqr() / n as f64;
                }
            }
        }
        Ok(SchwingerValues {
            condensate,
            pion,
            slices: None,
        })
    }
}

/// The fermionic results of a Schwinger-model ensemble (flattened into
/// [`crate::GaugeMeasurement`]'s JSON: keys `condensate`, `pion_correlator`, `pion_mass`, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchwingerResults {
    /// The bare mass m of D.
    pub mass: f64,
    /// "exact" or "stochastic".
    pub fermion_method: &'static str,
    /// Configurations per jackknife bin of the pion mass's error.
    pub bin_size: usize,
    /// Σ = (1/V) ⟨Re tr D⁻¹⟩.
    pub condensate: ObservableResult,
    /// C(t), t = 0 … L₀ − 1.
    pub pion_correlator: Vec<PointResult>,
    /// acosh[(C(t−1) + C(t+1)) / 2C(t)].
    pub pion_effective_mass: Vec<PointResult>,
    /// The cosh fit of C(t) over a plateau (or `--fit-range`); `None` where no plateau was
    /// found.
    pub pion_mass: Option<PoleMass>,
    /// ⟨(1/L₀) Σ_{t₀} s(t₀) s(t₀ + t)⟩ − ⟨s̄⟩², s(t) = Σ_{x₀ = t} Re (D⁻¹)_{xx} (exact method).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnected_correlator: Option<Vec<PointResult>>,
}

/// Per chain, the fermionic series: Σ, C(t) and s(t) (indexed [t][configuration]).
#[derive(Debug, Clone, Default)]
pub(crate) struct SchwingerSeries {
    pub condensate: Vec<f64>,
    pub pion: Vec<Vec<f64>>,
    pub slices: Vec<Vec<f64>>,
}

impl SchwingerSeries {
    pub fn push(&mut self, v: SchwingerValues) {
        let l0 = v.pion.len();
        if self.pion.is_empty() {
            self.pion = vec![Vec::new(); l0];
            if v.slices.is_some() {
                self.slices = vec![Vec::new(); l0];
            }
        }
        self.condensate.push(v.condensate);
        for (series, c) in self.pion.iter_mut().zip(&v.pion) {
            series.push(*c);
        }
        if let Some(s) = v.slices {
            for (series, s) in self.slices.iter_mut().zip(s) {
                series.push(s);
            }
        }
    }
}

/// The ensemble's fermionic results from the chains' series.
pub(crate) fn analyze_schwinger(
    est: &Estimator,
    chains: &[&SchwingerSeries],
    mass: f64,
    method: CondensateMethod,
    l0: usize,
    fit_range: Option<(usize, usize)>,
) -> SchwingerResults {
    let condensate = est.fraction(&chains.iter().map(|c| c.condensate.clone()).collect());
    let at = |t: usize| -> Vec<Vec<f64>> { chains.iter().map(|c| c.pion[t].clone()).collect() };
    let slice: Vec<Vec<Vec<f64>>> = (0..l0).map(at).collect();
    let pion_correlator: Vec<PointResult> = (0..l0)
        .map(|t| {
            let o = est.fraction(&slice[t]);
            PointResult {
                t,
                value: o.value,
                error: o.error,
            }
        })
        .collect();
    let mut meff = vec![None; l0];
    let mut pion_effective_mass = Vec::new();
    for t in 1..l0.saturating_sub(1) {
        let f = |a: &[f64]| ((a[0] + a[2]) / (2.0 * a[1])).acosh();
        if let Ok(r) = est.any(&[&slice[t - 1], &slice[t], &slice[t + 1]], &f)
            && r.value.is_finite()
            && r.error.is_finite()
        {
            meff[t] = Some((r.value, r.error));
            pion_effective_mass.push(PointResult {
                t,
                value: r.value,
                error: r.error,
            });
        }
    }
    let c_val: Vec<f64> = pion_correlator.iter().map(|p| p.value).collect();
    let c_err: Vec<f64> = pion_correlator.iter().map(|p| p.error).collect();
    let zeros: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| vec![0.0; c.condensate.len()])
        .collect();
    let pion_mass = match fit_range.or_else(|| choose_plateau(&c_val, &c_err, &meff, l0)) {
        Some((t1, t2)) if t2 > t1 && t2 < l0 => {
            est.pole_mass(&slice, &zeros, &c_val, &c_err, 0.0, l0, t1, t2)
        }
        _ => None,
    };
    let disconnected_correlator = chains.iter().all(|c| !c.slices.is_empty()).then(|| {
        let per_config = |f: &dyn Fn(&[f64]) -> f64| -> Vec<Vec<f64>> {
            chains
                .iter()
                .map(|c| {
                    (0..c.condensate.len())
                        .map(|i| {
                            let s: Vec<f64> = (0..l0).map(|t| c.slices[t][i]).collect();
                            f(&s)
                        })
                        .collect()
                })
                .collect()
        };
        let mean = per_config(&|s| s.iter().sum::<f64>() / l0 as f64);
        (0..l0)
            .filter_map(|t| {
                let product = per_config(&|s| {
                    (0..l0).map(|t0| s[t0] * s[(t0 + t) % l0]).sum::<f64>() / l0 as f64
                });
                let r = est.any(&[&product, &mean], &|a| a[0] - a[1] * a[1]).ok()?;
                Some(PointResult {
                    t,
                    value: r.value,
                    error: r.error,
                })
            })
            .collect()
    });
    SchwingerResults {
        mass,
        fermion_method: match method {
            CondensateMethod::Exact => "exact",
            CondensateMethod::Stochastic { .. } => "stochastic",
        },
        bin_size: est.bin,
        condensate,
        pion_correlator,
        pion_effective_mass,
        pion_mass,
        disconnected_correlator,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lft_lattice::{stream_rng, uniform};

    /// The stochastic condensate and pion correlator are unbiased estimates of the exact ones
    /// (every even source): on one random configuration, the mean over many draws is within
    /// 4 standard errors of the exact value, draw by draw.
    #[test]
    fn stochastic_estimates_agree_with_the_exact_values() {
        let lattice = Lattice::new(&[8, 6]).unwrap();
        let mut rng = stream_rng(5, 0);
        let theta: Vec<f64> = (0..2 * lattice.volume())
            .map(|_| 2.5 * (2.0 * uniform(&mut rng) - 1.0))
            .collect();
        let mass = 0.3;
        let exact = SchwingerMeasurer::new(&lattice, mass, CondensateMethod::Exact)
            .unwrap()
            .measure(&theta, &mut rng)
            .unwrap();
        let stochastic =
            SchwingerMeasurer::new(&lattice, mass, CondensateMethod::stochastic(1)).unwrap();
        let draws: Vec<SchwingerValues> = (0..3000)
            .map(|_| stochastic.measure(&theta, &mut rng).unwrap())
            .collect();
        assert!(draws[0].slices.is_none());
        let check = |what: &str, values: Vec<f64>, want: f64| {
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let se = (var / n).sqrt();
            assert!(
                (mean - want).abs() < 4.0 * se.max(1e-14),
                "{what}: {mean} ± {se}, exact {want}"
            );
        };
        check(
            "condensate",
            draws.iter().map(|d| d.condensate).collect(),
            exact.condensate,
        );
        for t in 0..8 {
            check(
                &format!("C({t})"),
                draws.iter().map(|d| d.pion[t]).collect(),
                exact.pion[t],
            );
        }
        // The exact timeslice sums add up to V Σ.
        let slices: f64 = exact.slices.unwrap().iter().sum();
        assert!((slices - 48.0 * exact.condensate).abs() < 1e-10);
    }
}
