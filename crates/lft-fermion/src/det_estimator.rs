//! An unbiased, positive estimator of det(D Dᵀ) = (det D)² from Gaussian draws and CG solves,
//! never forming the determinant: what pseudo-marginal samplers (Andrieu & Roberts 2009) need to
//! stay exact.
//!
//! **The identity.** For Hermitian A, B > 0 and η complex Gaussian with covariance B (density
//! π^{−V} det(B)⁻¹ e^{−η†B⁻¹η}),
//!
//!   E[ e^{−η†(A⁻¹ − B⁻¹)η} ] = det A / det B,
//!   E[ e^{−2η†(A⁻¹ − B⁻¹)η} ] = det(B)⁻¹ det(2A⁻¹ − B⁻¹)⁻¹,
//!
//! so the estimate has finite variance if and only if A < 2B, and then its relative variance is
//! Π_i 1/(ν_i (2 − ν_i)) − 1 over the eigenvalues ν_i of B^{−½} A B^{−½}. With B = 1 and
//! A = D Dᵀ this is the naive estimator, whose variance is infinite once an eigenvalue of D Dᵀ
//! exceeds 2 (every realistic field).
//!
//! **The ladder.** With A = D Dᵀ, twists 0 = μ_0 < μ_1 < … < μ_N and the free reference
//! C = D₀ D₀ᵀ + c + μ_N² (D₀ the free operator at the bare mass m, c a shift that depends on the
//! field only, see [`Reference`]),
//!
//!   det A = det C · Π_{k<N} det(A + μ_k²)/det(A + μ_{k+1}²) · det(A + μ_N²)/det C,
//!
//! each ratio estimated by its own draws η = D ξ₁ + μ_{k+1} ξ₂ (covariance A + μ_{k+1}²; for
//! the last, η = D₀ ξ₁ + (c + μ_N²)^½ ξ₂), ξ₁, ξ₂ standard complex normal, averaged over
//! `draws` draws; det C = Π_p (m² + c + μ_N² + sin² p) is known in closed form (lft-fermion's `free`). The product of
//! independent unbiased estimates is unbiased.
//!
//! **Finite variance.** A rung k < N needs A + μ_k² < 2(A + μ_{k+1}²), true for every field since
//! μ_k < μ_{k+1}. The last needs A + μ_N² < 2C: with Dᵀ = −K + d (d_x = m + gφ_x),
//! |Dᵀx|² ≤ 2|Kx|² + 2 max d² |x|² and D₀D₀ᵀ = KKᵀ + m² (K antisymmetric), so it holds whenever
//! max_x d_x² < m² + c + μ_N²/2, which the estimator checks on every field (else
//! [`FermionError::EstimatorVariance`]). With c = ⟨d²⟩ − m² ([`Reference::MeanDiagonal`]) the
//! condition reads max d² − ⟨d²⟩ < μ_N²/2. The variance is
//! finite then, not small: rung k's grows with the number of modes of A below μ_{k+1}², and the
//! lowest rung's with the smallness of A's lowest eigenvalues (the determinant's own zeros), so
//! the twists are spaced to keep each rung's log-estimate variance of order one.

use crate::free::free_log_det;
use crate::{
    CgParams, CgScratch, Dirac, FermionError, STAGNATION_FLOOR, accept_stagnated, re_dot,
    solve_ddt_shifted,
};
use lft_lattice::{Pcg64, gaussian_fill};
use num_complex::Complex64;

/// One estimate of det(D Dᵀ), in logs.
#[derive(Debug, Clone, PartialEq)]
pub struct DetEstimate {
    /// log of the (unbiased) estimate of det(D Dᵀ).
    pub log_det: f64,
    /// log of each rung's estimated ratio, the last being det(A + μ_N²)/det C.
    pub rungs: Vec<f64>,
    /// log det C of the free reference.
    pub log_det_reference: f64,
    /// CG iterations of all the solves.
    pub cg_iterations: usize,
    /// Twists added past μ_N for this field's variance condition
    /// ([`DetEstimator::estimate_extended`]; 0 otherwise).
    pub extra_rungs: usize,
}

/// The free reference C = D₀ D₀ᵀ + c + μ_N² of the last rung: the shift c ≥ −m² is a function
/// of the field, so det C stays known in closed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reference {
    /// c = 0: the free operator at the bare mass.
    Free,
    /// c = ⟨d²⟩ − m², the mean over sites of d_x² = (m + gφ_x)² less m²: the reference's
    /// diagonal matches the field's on average, so its spectrum sits where D Dᵀ's bulk does
    /// and the ladder can stop at a small μ_N. The default.
    #[default]
    MeanDiagonal,
}

impl Reference {
    /// "free" or "mean-diagonal", as written in configs.
    pub fn name(self) -> &'static str {
        match self {
            Reference::Free => "free",
            Reference::MeanDiagonal => "mean-diagonal",
        }
    }

    /// The shift c of the field of `dirac`.
    pub fn shift(self, dirac: &Dirac) -> f64 {
        match self {
            Reference::Free => 0.0,
            Reference::MeanDiagonal => {
                let v = dirac.volume();
                let mean = (0..v).map(|x| dirac.diagonal(x).powi(2)).sum::<f64>() / v as f64;
                mean - dirac.mass().powi(2)
            }
        }
    }
}

/// The estimator: twists μ_1 < … < μ_N, draws per rung and the free reference.
#[derive(Debug, Clone, PartialEq)]
pub struct DetEstimator {
    twists: Vec<f64>,
    draws: usize,
    cg: CgParams,
    reference: Reference,
}

impl DetEstimator {
    /// Twists μ_1 < … < μ_N (all > 0; μ_0 = 0 is implied), `draws` ≥ 1 per rung.
    pub fn new(twists: Vec<f64>, draws: usize, cg: CgParams) -> Result<Self, FermionError> {
        check_ladder(&twists, draws)?;
        Ok(Self {
            twists,
            draws,
            cg,
            reference: Reference::Free,
        })
    }

    /// The same estimator with the last rung's reference `reference` (`new` gives
    /// [`Reference::Free`]).
    pub fn with_reference(mut self, reference: Reference) -> Self {
        self.reference = reference;
        self
    }

    pub fn reference(&self) -> Reference {
        self.reference
    }

    pub fn twists(&self) -> &[f64] {
        &self.twists
    }

    pub fn draws(&self) -> usize {
        self.draws
    }

    /// The largest twist μ_N.
    fn top(&self) -> f64 {
        *self.twists.last().expect("at least one twist")
    }

    /// Ok if the field satisfies the last rung's variance condition
    /// max_x d_x² < m² + c + μ_N²/2 (c the reference's shift).
    pub fn check_variance(&self, dirac: &Dirac) -> Result<(), FermionError> {
        let m = dirac.mass();
        let c = self.reference.shift(dirac);
        let bound = m * m + c + 0.5 * self.top() * self.top();
        let (site, value) = (0..dirac.volume())
            .map(|x| (x, dirac.diagonal(x).powi(2)))
            .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
        if value < bound {
            return Ok(());
        }
        Err(FermionError::EstimatorVariance {
            site,
            value,
            bound,
            needed: (2.0 * (value - m * m - c)).sqrt(),
        })
    }

    /// One estimate of det(D Dᵀ) for the operator `dirac`, from the stream `rng`; refuses a
    /// field that breaks the variance condition ([`DetEstimator::check_variance`]).
    pub fn estimate(&self, dirac: &Dirac, rng: &mut Pcg64) -> Result<DetEstimate, FermionError> {
        self.check_variance(dirac)?;
        self.estimate_on(&self.twists, dirac, rng)
    }

    /// The twists of the field's ladder: the configured ones, extended past μ_N at the
    /// ladder's last ratio (1.15 for a single twist) until the field meets the variance
    /// condition. A deterministic function of the field, so estimates stay unbiased.
    pub fn twists_for(&self, dirac: &Dirac) -> Vec<f64> {
        let mut twists = self.twists.clone();
        let Err(FermionError::EstimatorVariance { needed, .. }) = self.check_variance(dirac) else {
            return twists;
        };
        let n = twists.len();
        let ratio = if n >= 2 {
            twists[n - 1] / twists[n - 2]
        } else {
            1.15
        };
        let mut top = twists[n - 1];
        // The condition is strict: μ_N > needed.
        while top <= needed {
            top *= ratio;
            twists.push(top);
        }
        twists
    }

    /// One estimate on the field's own ladder ([`DetEstimator::twists_for`]): never refused
    /// for its variance; [`DetEstimate::extra_rungs`] says how far the ladder was extended.
    pub fn estimate_extended(
        &self,
        dirac: &Dirac,
        rng: &mut Pcg64,
    ) -> Result<DetEstimate, FermionError> {
        self.estimate_on(&self.twists_for(dirac), dirac, rng)
    }

    /// One estimate on the ladder `twists`.
    fn estimate_on(
        &self,
        twists: &[f64],
        dirac: &Dirac,
        rng: &mut Pcg64,
    ) -> Result<DetEstimate, FermionError> {
        let v = dirac.volume();
        let staggered = dirac.staggered();
        let zeros = vec![0.0; v];
        let free = Dirac::new(staggered, dirac.mass(), 0.0, &zeros);
        let mut work = Work::new(v);
        let mut rungs = Vec::with_capacity(twists.len() + 1);
        let mut lower = 0.0;
        for &upper in twists {
            rungs.push(work.log_ratio(dirac, dirac, lower, upper, self, rng)?);
            lower = upper;
        }
        let top = lower;
        let sigma = self.reference.shift(dirac) + top * top;
        rungs.push(work.log_ratio(dirac, &free, top, sigma.sqrt(), self, rng)?);
        let mu = (dirac.mass().powi(2) + sigma).sqrt();
        let log_det_reference = 2.0 * free_log_det(staggered.lattice(), mu);
        Ok(DetEstimate {
            log_det: log_det_reference + rungs.iter().sum::<f64>(),
            rungs,
            log_det_reference,
            cg_iterations: work.iterations,
            extra_rungs: twists.len() - self.twists.len(),
        })
    }
}

/// Refuses zero draws and twists that are not finite, positive and increasing (at least one).
pub(crate) fn check_ladder(twists: &[f64], draws: usize) -> Result<(), FermionError> {
    if draws == 0 {
        return Err(FermionError::BadParameter {
            name: "pf_draws",
            value: 0.0,
            reason: "needs at least one draw per rung",
        });
    }
    if twists.is_empty() {
        return Err(FermionError::BadParameter {
            name: "pf_twists",
            value: f64::NAN,
            reason: "needs at least one twist (the reference's)",
        });
    }
    let mut below = 0.0;
    for &mu in twists {
        if !(mu.is_finite() && mu > below) {
            return Err(FermionError::BadParameter {
                name: "pf_twists",
                value: mu,
                reason: "must be finite, positive and increasing",
            });
        }
        below = mu;
    }
    Ok(())
}

/// Buffers of the draws and solves.
struct Work {
    xi1: Vec<Complex64>,
    xi2: Vec<Complex64>,
    eta: Vec<Complex64>,
    x: Vec<Complex64>,
    gauss: Vec<f64>,
    scratch: CgScratch<Complex64>,
    iterations: usize,
}

impl Work {
    fn new(v: usize) -> Self {
        Self {
            xi1: vec![Complex64::default(); v],
            xi2: vec![Complex64::default(); v],
            eta: vec![Complex64::default(); v],
            x: vec![Complex64::default(); v],
            gauss: vec![0.0; 2 * v],
            scratch: CgScratch::new(v),
            iterations: 0,
        }
    }

    fn complex_normal(&mut self, rng: &mut Pcg64, second: bool) {
        gaussian_fill(rng, &mut self.gauss);
        let s = std::f64::consts::FRAC_1_SQRT_2;
        let out = if second { &mut self.xi2 } else { &mut self.xi1 };
        for (z, pair) in out.iter_mut().zip(self.gauss.chunks_exact(2)) {
            *z = Complex64::new(pair[0] * s, pair[1] * s);
        }
    }

    /// η† (D Dᵀ + μ²)⁻¹ η by CG from a zero start.
    fn quadratic(&mut self, dirac: &Dirac, mu: f64, cg: CgParams) -> Result<f64, FermionError> {
        self.x.fill(Complex64::default());
        let result = solve_ddt_shifted(
            dirac,
            mu * mu,
            &self.eta,
            &mut self.x,
            cg,
            &mut self.scratch,
        );
        let stats = accept_stagnated(result, STAGNATION_FLOOR)?;
        self.iterations += stats.iterations;
        Ok(re_dot(&self.eta, &self.x))
    }

    /// log of the mean over the draws of e^{−η†((A + μ_lo²)⁻¹ − (B + μ_hi²)⁻¹)η}, η with
    /// covariance B + μ_hi² (B = Dᵦ Dᵦᵀ of `cov`): an unbiased estimate of
    /// det(A + μ_lo²)/det(B + μ_hi²), A of `num`.
    fn log_ratio(
        &mut self,
        num: &Dirac,
        cov: &Dirac,
        mu_lo: f64,
        mu_hi: f64,
        est: &DetEstimator,
        rng: &mut Pcg64,
    ) -> Result<f64, FermionError> {
        let mut exponents = Vec::with_capacity(est.draws);
        for _ in 0..est.draws {
            self.complex_normal(rng, false);
            self.complex_normal(rng, true);
            cov.apply(&self.xi1, &mut self.eta);
            for (e, &z) in self.eta.iter_mut().zip(&self.xi2) {
                *e += z * mu_hi;
            }
            let a = self.quadratic(num, mu_lo, est.cg)?;
            let b = self.quadratic(cov, mu_hi, est.cg)?;
            exponents.push(-(a - b));
        }
        let max = exponents.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = exponents.iter().map(|e| (e - max).exp()).sum::<f64>() / est.draws as f64;
        Ok(max + mean.ln())
    }
}
