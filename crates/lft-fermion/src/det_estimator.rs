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
//! C = D₀ D₀ᵀ + μ_N² (D₀ the free operator at the bare mass m),
//!
//!   det A = det C · Π_{k<N} det(A + μ_k²)/det(A + μ_{k+1}²) · det(A + μ_N²)/det C,
//!
//! each ratio estimated by its own draws η = D ξ₁ + μ_{k+1} ξ₂ (covariance A + μ_{k+1}²; for
//! the last, η = D₀ ξ₁ + μ_N ξ₂), ξ₁, ξ₂ standard complex normal, averaged over `draws` draws;
//! det C = Π_p (m² + μ_N² + sin² p) is known in closed form (lft-fermion's `free`). The product of
//! independent unbiased estimates is unbiased.
//!
//! **Finite variance.** A rung k < N needs A + μ_k² < 2(A + μ_{k+1}²), true for every field since
//! μ_k < μ_{k+1}. The last needs A + μ_N² < 2C: with Dᵀ = −K + d (d_x = m + gφ_x),
//! |Dᵀx|² ≤ 2|Kx|² + 2 max d² |x|², so it holds whenever max_x d_x² < m² + μ_N²/2, which the
//! estimator checks on every field (else [`FermionError::EstimatorVariance`]). The variance is
//! finite then, not small: rung k's grows with the number of modes of A below μ_{k+1}², and the
//! lowest rung's with the smallness of A's lowest eigenvalues (the determinant's own zeros), so
//! the twists are spaced to keep each rung's log-estimate variance of order one.

use crate::free::free_log_det;
use crate::{CgParams, CgScratch, Dirac, FermionError, re_dot, solve_ddt_shifted};
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
}

/// The estimator: twists μ_1 < … < μ_N and draws per rung.
#[derive(Debug, Clone, PartialEq)]
pub struct DetEstimator {
    twists: Vec<f64>,
    draws: usize,
    cg: CgParams,
}

impl DetEstimator {
    /// Twists μ_1 < … < μ_N (all > 0; μ_0 = 0 is implied), `draws` ≥ 1 per rung.
    pub fn new(twists: Vec<f64>, draws: usize, cg: CgParams) -> Result<Self, FermionError> {
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
        for &mu in &twists {
            if !(mu.is_finite() && mu > below) {
                return Err(FermionError::BadParameter {
                    name: "pf_twists",
                    value: mu,
                    reason: "must be finite, positive and increasing",
                });
            }
            below = mu;
        }
        Ok(Self { twists, draws, cg })
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

    /// Ok if the field satisfies the last rung's variance condition max_x d_x² < m² + μ_N²/2.
    pub fn check_variance(&self, dirac: &Dirac) -> Result<(), FermionError> {
        let m = dirac.mass();
        let bound = m * m + 0.5 * self.top() * self.top();
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
            needed: (2.0 * (value - m * m)).sqrt(),
        })
    }

    /// One estimate of det(D Dᵀ) for the operator `dirac`, from the stream `rng`.
    pub fn estimate(&self, dirac: &Dirac, rng: &mut Pcg64) -> Result<DetEstimate, FermionError> {
        self.check_variance(dirac)?;
        let v = dirac.volume();
        let staggered = dirac.staggered();
        let zeros = vec![0.0; v];
        let free = Dirac::new(staggered, dirac.mass(), 0.0, &zeros);
        let mut work = Work::new(v);
        let mut rungs = Vec::with_capacity(self.twists.len() + 1);
        let mut lower = 0.0;
        for &upper in &self.twists {
            rungs.push(work.log_ratio(dirac, dirac, lower, upper, self, rng)?);
            lower = upper;
        }
        let top = self.top();
        rungs.push(work.log_ratio(dirac, &free, top, top, self, rng)?);
        let mu = (dirac.mass().powi(2) + top * top).sqrt();
        let log_det_reference = 2.0 * free_log_det(staggered.lattice(), mu);
        Ok(DetEstimate {
            log_det: log_det_reference + rungs.iter().sum::<f64>(),
            rungs,
            log_det_reference,
            cg_iterations: work.iterations,
        })
    }
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
        let stats = solve_ddt_shifted(
            dirac,
            mu * mu,
            &self.eta,
            &mut self.x,
            cg,
            &mut self.scratch,
        )?;
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
