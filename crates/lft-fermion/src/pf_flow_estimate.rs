//! What the conditional pseudofermion flow is for: an importance-sampling estimate of
//! det(D Dᵀ), and the reverse-KL loss that trains it.
//!
//! With ϕ = A(φ) ξ ([`PseudofermionFlow`]) and the unnormalised conditional target
//! p̃(ϕ | φ) = e^{−ϕ†(D Dᵀ)⁻¹ϕ}, whose integral is π^V det(D Dᵀ),
//!
//!   d̂et = p̃(ϕ | φ) / (π^V q(ϕ | φ)) = exp(|ξ|² − ϕ†(D Dᵀ)⁻¹ϕ + L(φ))
//!
//! is a positive, unbiased estimate of det(D Dᵀ), exact (zero variance) when A Aᵀ = D Dᵀ; one CG
//! solve per draw. Independence Metropolis on the joint target e^{−S_φ⁴(φ) − ϕ†(D Dᵀ)⁻¹ϕ}
//! with proposals q(φ) q(ϕ | φ) is, on φ, the pseudo-marginal chain with this estimator: the
//! joint weight is e^{−S_φ⁴(φ)} d̂et(φ) / q(φ) times the constant π^V. Its relative variance
//! is Π_i 1/(ν_i(2 − ν_i)) − 1 over the eigenvalues ν_i of (A Aᵀ)^{−½} D Dᵀ (A Aᵀ)^{−½}
//! (lft-fermion's `det_estimator` identity with B = A Aᵀ): finite if and only if
//! D Dᵀ < 2 A Aᵀ, which training towards A Aᵀ ≈ D Dᵀ aims at but does not enforce; samplers
//! report the variance of log d̂et they meet.
//!
//! **Training.** The joint reverse KL, KL(q(φ) q(ϕ|φ) ‖ p), depends on the conditional flow
//! through E[ℓ] with
//!
//!   ℓ(φ, ξ) = −log d̂et = ϕ†(D Dᵀ)⁻¹ϕ − |ξ|² − L(φ),
//!
//! whose mean over ξ at fixed φ is KL(q(·|φ) ‖ p(·|φ)) − log det(D Dᵀ) ≥ −log det(D Dᵀ).
//! Gradients: ∂ℓ/∂ϕ = 2X with X = (D Dᵀ)⁻¹ϕ (one CG solve), through the flow's backward pass;
//! and at fixed ϕ, ∂(ϕ†(D Dᵀ)⁻¹ϕ)/∂φ_x = −2g Re(X̄_x Y_x), Y = Dᵀ X (the pseudofermion force).

use crate::{
    CgParams, CgScratch, Dirac, FermionError, PseudofermionFlow, STAGNATION_FLOOR,
    accept_stagnated, norm_sqr, re_dot, solve_ddt,
};
use lft_lattice::{Pcg64, gaussian_fill};
use lft_stats::log_mean_exp;
use num_complex::Complex64;

/// ξ standard complex normal (real and imaginary parts N(0, ½)), density π^{−V} e^{−|ξ|²}.
pub fn standard_complex_normal(rng: &mut Pcg64, out: &mut [Complex64]) {
    let mut gauss = vec![0.0; 2 * out.len()];
    gaussian_fill(rng, &mut gauss);
    let scale = std::f64::consts::FRAC_1_SQRT_2;
    for (z, pair) in out.iter_mut().zip(gauss.chunks_exact(2)) {
        *z = Complex64::new(pair[0] * scale, pair[1] * scale);
    }
}

/// One importance-sampling estimate of det(D Dᵀ).
#[derive(Debug, Clone, PartialEq)]
pub struct PfFlowEstimate {
    /// log of the (unbiased) estimate: log of the mean of the draws' d̂et.
    pub log_det: f64,
    /// log d̂et of each draw.
    pub draws: Vec<f64>,
    /// CG iterations of all the solves.
    pub cg_iterations: usize,
}

/// The loss ℓ = −log d̂et of one (φ, ξ) and its gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct PfFlowLoss {
    /// ℓ = ϕ†(D Dᵀ)⁻¹ϕ − |ξ|² − L(φ).
    pub loss: f64,
    /// ∂ℓ/∂θ.
    pub params: Vec<f64>,
    /// dℓ/dφ_x: through A(φ) and through (D Dᵀ)⁻¹ at fixed ϕ.
    pub phi: Vec<f64>,
    /// ∂ℓ/∂ξ.
    pub xi: Vec<Complex64>,
    /// CG iterations of the solve.
    pub cg_iterations: usize,
}

impl PseudofermionFlow {
    /// log d̂et(φ) = |ξ|² − ϕ†(D Dᵀ)⁻¹ϕ + L(φ) of one draw ξ.
    fn log_det_draw(
        &self,
        dirac: &Dirac,
        xi: &[Complex64],
        cg: CgParams,
        scratch: &mut CgScratch<Complex64>,
    ) -> Result<(f64, usize), FermionError> {
        let v = xi.len();
        let mut phi = vec![Complex64::default(); v];
        let log_jac = self.forward(dirac, xi, &mut phi);
        let mut x = vec![Complex64::default(); v];
        let stats = accept_stagnated(
            solve_ddt(dirac, &phi, &mut x, cg, scratch),
            STAGNATION_FLOOR,
        )?;
        Ok((norm_sqr(xi) - re_dot(&phi, &x) + log_jac, stats.iterations))
    }

    /// An unbiased estimate of det(D Dᵀ) from `draws` ≥ 1 draws of ξ from `rng`: the mean of
    /// their d̂et (computed in logs).
    pub fn estimate_log_det(
        &self,
        dirac: &Dirac,
        draws: usize,
        cg: CgParams,
        rng: &mut Pcg64,
    ) -> Result<PfFlowEstimate, FermionError> {
        check_flow_draws(draws)?;
        let v = dirac.volume();
        let mut scratch = CgScratch::new(v);
        let mut xi = vec![Complex64::default(); v];
        let mut logs = Vec::with_capacity(draws);
        let mut iterations = 0;
        for _ in 0..draws {
            standard_complex_normal(rng, &mut xi);
            let (l, it) = self.log_det_draw(dirac, &xi, cg, &mut scratch)?;
            logs.push(l);
            iterations += it;
        }
        Ok(PfFlowEstimate {
            log_det: log_mean_exp(&logs),
            draws: logs,
            cg_iterations: iterations,
        })
    }

    /// ℓ = −log d̂et at (φ, ξ) and its gradients (module doc): one forward pass, one CG solve,
    /// one backward pass.
    pub fn loss(
        &self,
        dirac: &Dirac,
        xi: &[Complex64],
        cg: CgParams,
    ) -> Result<PfFlowLoss, FermionError> {
        let v = xi.len();
        let mut scratch = CgScratch::new(v);
        let mut phi = vec![Complex64::default(); v];
        let log_jac = self.forward(dirac, xi, &mut phi);
        let mut x = vec![Complex64::default(); v];
        let stats = accept_stagnated(
            solve_ddt(dirac, &phi, &mut x, cg, &mut scratch),
            STAGNATION_FLOOR,
        )?;
        let loss = re_dot(&phi, &x) - norm_sqr(xi) - log_jac;
        let two_x: Vec<Complex64> = x.iter().map(|z| z * 2.0).collect();
        let mut grad = self.backward(dirac, xi, &two_x, -1.0);
        // At fixed ϕ: ∂(ϕ†(D Dᵀ)⁻¹ϕ)/∂φ_x = −2g Re(X̄_x (Dᵀ X)_x).
        let mut y = vec![Complex64::default(); v];
        dirac.apply_transpose(&x, &mut y);
        let g2 = -2.0 * dirac.g();
        for ((f, x), y) in grad.phi.iter_mut().zip(&x).zip(&y) {
            *f += g2 * (x.re * y.re + x.im * y.im);
        }
        for (gx, xi) in grad.xi.iter_mut().zip(xi) {
            *gx -= xi * 2.0;
        }
        Ok(PfFlowLoss {
            loss,
            params: grad.params,
            phi: grad.phi,
            xi: grad.xi,
            cg_iterations: stats.iterations,
        })
    }
}

/// The flow's estimate as a determinant estimator: `draws` draws per estimate, solved to `cg`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowDetEstimator {
    pub flow: PseudofermionFlow,
    pub draws: usize,
    pub cg: CgParams,
}

impl FlowDetEstimator {
    /// Refuses zero draws.
    pub fn new(flow: PseudofermionFlow, draws: usize, cg: CgParams) -> Result<Self, FermionError> {
        check_flow_draws(draws)?;
        Ok(Self { flow, draws, cg })
    }

    /// One unbiased estimate of det(D Dᵀ) ([`PseudofermionFlow::estimate_log_det`]).
    pub fn estimate(&self, dirac: &Dirac, rng: &mut Pcg64) -> Result<PfFlowEstimate, FermionError> {
        self.flow.estimate_log_det(dirac, self.draws, self.cg, rng)
    }
}

/// Refuses an importance-sampling estimate of zero draws.
pub(crate) fn check_flow_draws(draws: usize) -> Result<(), FermionError> {
    if draws == 0 {
        return Err(FermionError::BadParameter {
            name: "pf_draws",
            value: 0.0,
            reason: "the flow estimate needs at least one draw",
        });
    }
    Ok(())
}
