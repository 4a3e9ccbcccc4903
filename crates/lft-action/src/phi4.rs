//! Scalar φ⁴ theory in the Albergo–Kanwar–Shanahan ("AKS") form and in the hopping (κ, λ̃) form.
//!
//! AKS:     S(φ) = Σ_x [ −2 Σ_μ φ_x φ_{x+μ̂} + (2d + m²) φ_x² + λ φ_x⁴ ]
//! Hopping: S(φ̃) = Σ_x [ −2κ Σ_μ φ̃_x φ̃_{x+μ̂} + φ̃_x² + λ̃ (φ̃_x² − 1)² ]
//!
//! They are one theory: φ = √κ φ̃, λ = λ̃/κ², m² = (1 − 2λ̃)/κ − 2d, and
//! S_AKS(√κ φ̃) = S_hop(φ̃) − V λ̃.

use crate::{Action, ActionError};
use lft_lattice::Lattice;
use rayon::prelude::*;

/// Sites per parallel work item; fixed so that sums are bit-for-bit independent of thread count.
const SITE_CHUNK: usize = 4096;
/// Lattices at least this large are split over sites with rayon.
const PARALLEL_SITES: usize = 4 * SITE_CHUNK;

/// φ⁴ couplings in the AKS form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phi4Params {
    pub m2: f64,
    pub lambda: f64,
}

/// φ⁴ couplings in the hopping form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoppingParams {
    pub kappa: f64,
    pub lambda_tilde: f64,
}

impl Phi4Params {
    /// Checks that the action is bounded below: λ ≥ 0, and m² > 0 when λ = 0.
    pub fn validate(&self) -> Result<(), ActionError> {
        let bad = |name, value, reason| {
            Err(ActionError {
                name,
                value,
                reason,
            })
        };
        if !self.m2.is_finite() {
            return bad("m2", self.m2, "must be a finite number");
        }
        if !self.lambda.is_finite() || self.lambda < 0.0 {
            return bad("lambda", self.lambda, "must be finite and ≥ 0");
        }
        if self.lambda == 0.0 && self.m2 <= 0.0 {
            return bad(
                "m2",
                self.m2,
                "must be > 0 when lambda = 0 (the action is unbounded below)",
            );
        }
        Ok(())
    }

    /// The same theory in the hopping form, in `dim` dimensions:
    /// κ = 1/(2d + m² + 2λκ) solved as κ = (−(2d+m²) + √((2d+m²)² + 8λ)) / (4λ) for λ > 0.
    pub fn to_hopping(&self, dim: usize) -> Result<HoppingParams, ActionError> {
        let a = 2.0 * dim as f64 + self.m2;
        // From λ = λ̃/κ² and 2d + m² = (1 − 2λ̃)/κ: 2λκ² + aκ − 1 = 0.
        let kappa = if self.lambda == 0.0 {
            1.0 / a
        } else {
            let disc = a * a + 8.0 * self.lambda;
            // Stable root of 2λκ² + aκ − 1 = 0 (positive one).
            2.0 / (a + disc.sqrt())
        };
        if !(kappa.is_finite() && kappa > 0.0) {
            return Err(ActionError {
                name: "m2",
                value: self.m2,
                reason: "has no hopping-form equivalent with κ > 0",
            });
        }
        Ok(HoppingParams {
            kappa,
            lambda_tilde: self.lambda * kappa * kappa,
        })
    }
}

impl HoppingParams {
    /// Checks κ > 0 and λ̃ ≥ 0, and (for λ̃ = 0) that the free theory is massive: κ < 1/(2d).
    pub fn validate(&self, dim: usize) -> Result<(), ActionError> {
        let bad = |name, value, reason| {
            Err(ActionError {
                name,
                value,
                reason,
            })
        };
        if !self.kappa.is_finite() || self.kappa <= 0.0 {
            return bad("kappa", self.kappa, "must be finite and > 0");
        }
        if !self.lambda_tilde.is_finite() || self.lambda_tilde < 0.0 {
            return bad("lambda_tilde", self.lambda_tilde, "must be finite and ≥ 0");
        }
        if self.lambda_tilde == 0.0 && self.kappa >= 1.0 / (2.0 * dim as f64) {
            return bad(
                "kappa",
                self.kappa,
                "must be < 1/(2d) when lambda_tilde = 0 (the action is unbounded below)",
            );
        }
        Ok(())
    }

    /// The same theory in the AKS form: λ = λ̃/κ², m² = (1 − 2λ̃)/κ − 2d.
    pub fn to_aks(&self, dim: usize) -> Phi4Params {
        Phi4Params {
            m2: (1.0 - 2.0 * self.lambda_tilde) / self.kappa - 2.0 * dim as f64,
            lambda: self.lambda_tilde / (self.kappa * self.kappa),
        }
    }
}

/// Σ over sites of `f(x)`, split into fixed chunks (in parallel on large lattices) and summed in
/// chunk order, so the result does not depend on the number of threads.
fn site_sum(volume: usize, f: impl Fn(usize) -> f64 + Sync) -> f64 {
    let chunk_sum = |start: usize| {
        (start..(start + SITE_CHUNK).min(volume))
            .map(&f)
            .sum::<f64>()
    };
    if volume < PARALLEL_SITES {
        return (0..volume).step_by(SITE_CHUNK).map(chunk_sum).sum();
    }
    let starts: Vec<usize> = (0..volume).step_by(SITE_CHUNK).collect();
    let partial: Vec<f64> = starts.par_iter().map(|&s| chunk_sum(s)).collect();
    partial.iter().sum()
}

/// Fills `out[x] = f(x)` for every site (in parallel on large lattices).
fn site_fill(out: &mut [f64], f: impl Fn(usize) -> f64 + Sync) {
    if out.len() < PARALLEL_SITES {
        out.iter_mut().enumerate().for_each(|(x, o)| *o = f(x));
        return;
    }
    out.par_chunks_mut(SITE_CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let base = c * SITE_CHUNK;
            chunk
                .iter_mut()
                .enumerate()
                .for_each(|(i, o)| *o = f(base + i));
        });
}

/// Σ_μ φ_{x+μ̂} from a forward table row.
#[inline]
fn sum_fwd(phi: &[f64], fwd: &[u32]) -> f64 {
    fwd.iter().map(|&y| phi[y as usize]).sum()
}

/// Σ_μ (φ_{x+μ̂} + φ_{x−μ̂}).
#[inline]
fn sum_both(phi: &[f64], fwd: &[u32], bwd: &[u32]) -> f64 {
    fwd.iter()
        .zip(bwd)
        .map(|(&u, &d)| phi[u as usize] + phi[d as usize])
        .sum()
}

/// φ⁴ in the AKS form (see the module docs).
#[derive(Debug, Clone)]
pub struct Phi4 {
    lattice: Lattice,
    params: Phi4Params,
}

impl Phi4 {
    /// φ⁴ with couplings (m², λ); refuses an action unbounded below.
    pub fn new(lattice: Lattice, params: Phi4Params) -> Result<Self, ActionError> {
        params.validate()?;
        Ok(Self { lattice, params })
    }

    pub fn params(&self) -> Phi4Params {
        self.params
    }
}

impl Action for Phi4 {
    fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    /// S = Σ_x [ (2d + m²) φ_x² + λ φ_x⁴ − 2 φ_x Σ_μ φ_{x+μ̂} ].
    fn action(&self, phi: &[f64]) -> f64 {
        let d = self.lattice.dim();
        let mass = 2.0 * d as f64 + self.params.m2;
        let lambda = self.params.lambda;
        let fwd = self.lattice.fwd_table();
        site_sum(phi.len(), |x| {
            let p = phi[x];
            let p2 = p * p;
            p2 * (mass + lambda * p2) - 2.0 * p * sum_fwd(phi, &fwd[x * d..x * d + d])
        })
    }

    /// ∂S/∂φ_x = 2(2d + m²) φ_x + 4λ φ_x³ − 2 Σ_μ (φ_{x+μ̂} + φ_{x−μ̂}).
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        let d = self.lattice.dim();
        let mass2 = 2.0 * (2.0 * d as f64 + self.params.m2);
        let lambda4 = 4.0 * self.params.lambda;
        let (fwd, bwd) = (self.lattice.fwd_table(), self.lattice.bwd_table());
        site_fill(grad, |x| {
            let p = phi[x];
            p * (mass2 + lambda4 * p * p)
                - 2.0 * sum_both(phi, &fwd[x * d..x * d + d], &bwd[x * d..x * d + d])
        });
    }
}

/// φ⁴ in the hopping form, acting on φ̃ (see the module docs).
#[derive(Debug, Clone)]
pub struct Phi4Hopping {
    lattice: Lattice,
    params: HoppingParams,
}

impl Phi4Hopping {
    /// φ⁴ with couplings (κ, λ̃); refuses an action unbounded below.
    pub fn new(lattice: Lattice, params: HoppingParams) -> Result<Self, ActionError> {
        params.validate(lattice.dim())?;
        Ok(Self { lattice, params })
    }

    pub fn params(&self) -> HoppingParams {
        self.params
    }
}

impl Action for Phi4Hopping {
    fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    /// S = Σ_x [ −2κ φ̃_x Σ_μ φ̃_{x+μ̂} + φ̃_x² + λ̃ (φ̃_x² − 1)² ].
    fn action(&self, phi: &[f64]) -> f64 {
        let d = self.lattice.dim();
        let HoppingParams {
            kappa,
            lambda_tilde,
        } = self.params;
        let fwd = self.lattice.fwd_table();
        site_sum(phi.len(), |x| {
            let p = phi[x];
            let p2 = p * p;
            p2 + lambda_tilde * (p2 - 1.0).powi(2)
                - 2.0 * kappa * p * sum_fwd(phi, &fwd[x * d..x * d + d])
        })
    }

    /// ∂S/∂φ̃_x = 2 φ̃_x + 4λ̃ (φ̃_x² − 1) φ̃_x − 2κ Σ_μ (φ̃_{x+μ̂} + φ̃_{x−μ̂}).
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        let d = self.lattice.dim();
        let HoppingParams {
            kappa,
            lambda_tilde,
        } = self.params;
        let (fwd, bwd) = (self.lattice.fwd_table(), self.lattice.bwd_table());
        site_fill(grad, |x| {
            let p = phi[x];
            2.0 * p + 4.0 * lambda_tilde * (p * p - 1.0) * p
                - 2.0 * kappa * sum_both(phi, &fwd[x * d..x * d + d], &bwd[x * d..x * d + d])
        });
    }
}
