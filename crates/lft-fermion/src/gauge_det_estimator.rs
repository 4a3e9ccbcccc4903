//! An unbiased, positive estimator of det D(θ) = det M_ee(θ), M_ee = m² − K_eo K_oe, for the
//! Schwinger model's pseudo-marginal samplers: the twisted-mass ladder of [`crate::DetEstimator`]
//! on the even-site block of the gauge operator, with the same identity
//!
//!   E[ e^{−η†(A⁻¹ − B⁻¹)η} ] = det A / det B,   η complex Gaussian of covariance B,
//!
//! finite in variance if and only if A < 2B. With twists 0 = μ_0 < μ_1 < … < μ_N and the
//! free reference C = M_ee(θ = 0) + μ_N² (the even block of the free operator at mass
//! m' = (m² + μ_N²)^½, so log det C = log det D₀(m') in closed form, lft-fermion's `free`):
//!
//!   det M_ee = det C · Π_{k<N} det(M_ee + μ_k²)/det(M_ee + μ_{k+1}²) · det(M_ee + μ_N²)/det C.
//!
//! Rung k draws η = (D χ)_e + μ_{k+1} ξ (covariance M_ee + μ_{k+1}², as the pseudofermion heat
//! bath), the last η = (D₀(m') χ)_e (covariance C); χ on every site and ξ on even sites are
//! standard complex normal, `draws` draws per rung, two CG solves per draw.
//!
//! **Finite variance for every field.** The rungs k < N have it since μ_k < μ_{k+1}. The last
//! needs M_ee + μ_N² < 2C. Every hop has modulus ½ and a site has 2d = 4 of them, so
//! ‖K‖ ≤ 2 and M_ee ≤ m² + 4, while C ≥ m² + μ_N²: the condition holds for every link field
//! once μ_N² + m² > 4, which [`GaugeDetEstimator::new`] demands. Unlike the Yukawa ladder, no
//! field ever needs a longer one.

use crate::det_estimator::check_ladder;
use crate::free::free_log_det;
use crate::{
    CgParams, CgScratch, FermionError, GaugeDirac, HermitianOperator, STAGNATION_FLOOR, re_dot,
    solve_from_zero, standard_complex_normal,
};
use lft_lattice::Pcg64;
use num_complex::Complex64;

/// The bound ‖K_eo K_oe‖ ≤ 4 on the hopping part of M_ee (see the module doc).
pub const GAUGE_HOP_BOUND: f64 = 4.0;

/// One estimate of det D(θ), in logs.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeDetEstimate {
    /// log of the (unbiased) estimate of det D = det M_ee.
    pub log_det: f64,
    /// log of each rung's estimated ratio, the last being det(M_ee + μ_N²)/det C.
    pub rungs: Vec<f64>,
    /// log det C of the free reference.
    pub log_det_reference: f64,
    /// CG iterations of all the solves.
    pub cg_iterations: usize,
}

/// The ladder estimator of det D(θ) at one bare mass.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeDetEstimator {
    twists: Vec<f64>,
    draws: usize,
    cg: CgParams,
}

impl GaugeDetEstimator {
    /// Twists μ_1 < … < μ_N (positive, increasing, μ_N² + m² > 4 for the bare mass m of the
    /// operators it will see), `draws` ≥ 1 per rung.
    pub fn new(
        twists: Vec<f64>,
        draws: usize,
        cg: CgParams,
        mass: f64,
    ) -> Result<Self, FermionError> {
        check_ladder(&twists, draws)?;
        let below = twists[twists.len() - 1];
        if below * below + mass * mass <= GAUGE_HOP_BOUND {
            return Err(FermionError::BadParameter {
                name: "pf_twist_max",
                value: below,
                reason: "the last rung has a finite variance for every link field only when \
                         pf_twist_max² + mass² > 4 (pf_twist_max = 2 always does)",
            });
        }
        Ok(Self { twists, draws, cg })
    }

    /// The ladder from `min` to `max` geometric in the twisted mass² m² + μ²: μ_1 = min,
    /// m² + μ_{k+1}² = ratio · (m² + μ_k²) while below m² + max², then μ_N = max. M_ee's
    /// spectrum starts at m², so this spacing gives every rung a like share of the variance
    /// (a ladder geometric in μ crowds its rungs where M_ee has no modes).
    pub fn ladder_twists(mass: f64, min: f64, max: f64, ratio: f64) -> Vec<f64> {
        let m2 = mass * mass;
        let (mut s2, top) = (m2 + min * min, m2 + max * max);
        let mut twists = Vec::new();
        while s2 < top {
            twists.push((s2 - m2).sqrt());
            s2 *= ratio;
        }
        twists.push(max);
        twists
    }

    /// The smallest largest twist for bare mass m: μ_N² + m² > 4 (with a margin of 1e-9).
    pub fn smallest_top_twist(mass: f64) -> f64 {
        (GAUGE_HOP_BOUND - mass * mass).max(0.0).sqrt() + 1e-9
    }

    pub fn twists(&self) -> &[f64] {
        &self.twists
    }

    pub fn draws(&self) -> usize {
        self.draws
    }

    /// One estimate of det D(θ) for the operator `dirac` from the stream `rng`.
    pub fn estimate(
        &self,
        dirac: &GaugeDirac,
        rng: &mut Pcg64,
    ) -> Result<GaugeDetEstimate, FermionError> {
        let geometry = dirac.geometry();
        let top = *self.twists.last().expect("at least one twist");
        let reference_mass = (dirac.mass().powi(2) + top * top).sqrt();
        let zeros = vec![0.0; geometry.lattice().dim() * geometry.volume()];
        let free = geometry.dirac(reference_mass, &zeros);
        let mut work = Work::new(geometry.volume());
        let mut rungs = Vec::with_capacity(self.twists.len() + 1);
        let mut lower = 0.0;
        for &upper in &self.twists {
            rungs.push(work.log_ratio(dirac, lower, dirac, upper, self, rng)?);
            lower = upper;
        }
        rungs.push(work.log_ratio(dirac, top, &free, 0.0, self, rng)?);
        let log_det_reference = free_log_det(geometry.lattice(), reference_mass);
        Ok(GaugeDetEstimate {
            log_det: log_det_reference + rungs.iter().sum::<f64>(),
            rungs,
            log_det_reference,
            cg_iterations: work.iterations,
        })
    }
}

/// M_ee + σ of a gauge operator, on even-site vectors.
struct ShiftedNormalEven<'a, 'b> {
    dirac: &'a GaugeDirac<'b>,
    shift: f64,
}

impl HermitianOperator<Complex64> for ShiftedNormalEven<'_, '_> {
    fn dim(&self) -> usize {
        self.dirac.volume() / 2
    }

    fn apply(&self, v: &[Complex64], out: &mut [Complex64], tmp: &mut [Complex64]) {
        self.dirac.apply_normal_even(v, out, tmp);
        for (o, &v) in out.iter_mut().zip(v) {
            *o += v * self.shift;
        }
    }
}

/// Buffers of the draws and solves.
struct Work {
    /// χ on even then odd sites.
    chi: Vec<Complex64>,
    xi: Vec<Complex64>,
    eta: Vec<Complex64>,
    x: Vec<Complex64>,
    scratch: CgScratch<Complex64>,
    iterations: usize,
}

impl Work {
    fn new(volume: usize) -> Self {
        let half = volume / 2;
        Self {
            chi: vec![Complex64::default(); volume],
            xi: vec![Complex64::default(); half],
            eta: vec![Complex64::default(); half],
            x: vec![Complex64::default(); half],
            scratch: CgScratch::new(half),
            iterations: 0,
        }
    }

    /// η = (D χ)_e + μ ξ: covariance M_ee + μ² of `dirac`.
    fn draw(&mut self, dirac: &GaugeDirac, mu: f64, rng: &mut Pcg64) {
        standard_complex_normal(rng, &mut self.chi);
        standard_complex_normal(rng, &mut self.xi);
        let half = self.eta.len();
        let (even, odd) = self.chi.split_at(half);
        dirac.hop_odd_to_even(odd, &mut self.eta);
        let m = dirac.mass();
        for ((e, &c), &z) in self.eta.iter_mut().zip(even).zip(&self.xi) {
            *e += c * m + z * mu;
        }
    }

    /// η†(M_ee + μ²)⁻¹η of `dirac` by CG from a zero start.
    fn quadratic(
        &mut self,
        dirac: &GaugeDirac,
        mu: f64,
        cg: CgParams,
    ) -> Result<f64, FermionError> {
        let op = ShiftedNormalEven {
            dirac,
            shift: mu * mu,
        };
        let stats = solve_from_zero(
            &op,
            &self.eta,
            &mut self.x,
            cg,
            STAGNATION_FLOOR,
            &mut self.scratch,
        )?;
        self.iterations += stats.iterations;
        Ok(re_dot(&self.eta, &self.x))
    }

    /// log of the mean over the draws of e^{−η†((A + μ_a²)⁻¹ − (B + μ_b²)⁻¹)η}, η of covariance
    /// B + μ_b², A and B the M_ee of `num` and `cov`: an unbiased estimate of
    /// det(A + μ_a²)/det(B + μ_b²).
    fn log_ratio(
        &mut self,
        num: &GaugeDirac,
        mu_a: f64,
        cov: &GaugeDirac,
        mu_b: f64,
        est: &GaugeDetEstimator,
        rng: &mut Pcg64,
    ) -> Result<f64, FermionError> {
        let mut exponents = Vec::with_capacity(est.draws);
        for _ in 0..est.draws {
            self.draw(cov, mu_b, rng);
            let a = self.quadratic(num, mu_a, est.cg)?;
            let b = self.quadratic(cov, mu_b, est.cg)?;
            exponents.push(b - a);
        }
        let max = exponents.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = exponents.iter().map(|e| (e - max).exp()).sum::<f64>() / est.draws as f64;
        Ok(max + mean.ln())
    }
}
