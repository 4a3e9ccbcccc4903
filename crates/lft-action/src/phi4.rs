//! Scalar φ⁴ theory in the Albergo–Kanwar–Shanahan ("AKS") form and in the hopping (κ, λ̃) form.
//!
//! AKS:     S(φ) = Σ_x [ −2 Σ_μ φ_x φ_{x+μ̂} + (2d + m²) φ_x² + λ φ_x⁴ ]
//! Hopping: S(φ̃) = Σ_x [ −2κ Σ_μ φ̃_x φ̃_{x+μ̂} + φ̃_x² + λ̃ (φ̃_x² − 1)² ]
//!
//! They are one theory: φ = √κ φ̃, λ = λ̃/κ², m² = (1 − 2λ̃)/κ − 2d, and
//! S_AKS(√κ φ̃) = S_hop(φ̃) − V λ̃.
//!
//! An external field h adds −h Σ_x φ_x (AKS; `with_external_field`), which is −h √κ Σ_x φ̃_x
//! in the hopping form: the same h in both, always in the AKS normalisation of φ. It breaks
//! the Z₂ symmetry φ → −φ.

use crate::action::free_field_mass_term;
use crate::{Action, ActionError, LaneAction};
use lft_lattice::{Hop, LANES, Lanes, Lattice};
use rayon::prelude::*;

/// Sites per parallel work item (rounded to whole time slices); fixed so that sums are bit for
/// bit independent of the thread count.
const SITE_CHUNK: usize = 4096;
/// Lattices at least this large are split over slices with rayon.
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

/// Time slices per work item.
fn slices_per_chunk(lattice: &Lattice) -> usize {
    (SITE_CHUNK / lattice.slice_volume()).max(1)
}

/// Σ_x term(φ_x, n_x) with n_x = Σ_μ φ_{x+μ̂}, summed chunk by chunk in a fixed order (in
/// parallel on large lattices).
fn local_sum(lattice: &Lattice, phi: &[f64], term: impl Fn(f64, f64) -> f64 + Sync) -> f64 {
    let sv = lattice.slice_volume();
    let k = slices_per_chunk(lattice);
    let l0 = lattice.shape()[0];
    let chunk_sum = |first: usize| {
        let n = k.min(l0 - first);
        let mut terms = vec![0.0; n * sv];
        lattice.neighbour_map(phi, &mut terms, first, Hop::Forward, &term);
        terms.iter().sum::<f64>()
    };
    let firsts: Vec<usize> = (0..l0).step_by(k).collect();
    if phi.len() < PARALLEL_SITES {
        return firsts.into_iter().map(chunk_sum).sum();
    }
    let partial: Vec<f64> = firsts.par_iter().map(|&t| chunk_sum(t)).collect();
    partial.iter().sum()
}

/// out[x] = term(φ_x, n_x) with n_x = Σ_μ (φ_{x+μ̂} + φ_{x−μ̂}) (in parallel on large lattices).
fn local_fill(
    lattice: &Lattice,
    phi: &[f64],
    out: &mut [f64],
    term: impl Fn(f64, f64) -> f64 + Sync,
) {
    let sv = lattice.slice_volume();
    let k = slices_per_chunk(lattice);
    let fill = |c: usize, chunk: &mut [f64]| {
        lattice.neighbour_map(phi, chunk, c * k, Hop::Both, &term);
    };
    if out.len() < PARALLEL_SITES {
        out.chunks_mut(k * sv)
            .enumerate()
            .for_each(|(c, chunk)| fill(c, chunk));
    } else {
        out.par_chunks_mut(k * sv)
            .enumerate()
            .for_each(|(c, chunk)| fill(c, chunk));
    }
}

/// [`local_sum`] of every lane of a `[V][LANES]` batch, with the same chunks and order of
/// summation, so each lane equals it bit for bit.
fn lane_local_sum(lattice: &Lattice, phi: &[Lanes], term: impl Fn(f64, f64) -> f64) -> Lanes {
    let sv = lattice.slice_volume();
    let chunk = slices_per_chunk(lattice) * sv;
    let mut terms = vec![[0.0; LANES]; chunk.min(phi.len())];
    let mut total = [-0.0; LANES];
    for first in (0..phi.len()).step_by(chunk) {
        let n = chunk.min(phi.len() - first);
        lattice.lane_neighbour_map(phi, &mut terms[..n], first, Hop::Forward, &term);
        let mut part = [-0.0; LANES];
        for site in &terms[..n] {
            for l in 0..LANES {
                part[l] += site[l];
            }
        }
        for l in 0..LANES {
            total[l] += part[l];
        }
    }
    total
}

/// φ⁴ in the AKS form (see the module docs).
#[derive(Debug, Clone)]
pub struct Phi4 {
    lattice: Lattice,
    params: Phi4Params,
    /// The external field h of −h Σ_x φ_x (0: none).
    h: f64,
}

impl Phi4 {
    /// φ⁴ with couplings (m², λ); refuses an action unbounded below.
    pub fn new(lattice: Lattice, params: Phi4Params) -> Result<Self, ActionError> {
        params.validate()?;
        Ok(Self {
            lattice,
            params,
            h: 0.0,
        })
    }

    /// The same action with the external field term −h Σ_x φ_x; refuses a non-finite h.
    pub fn with_external_field(self, h: f64) -> Result<Self, ActionError> {
        check_field(h)?;
        Ok(Self { h, ..self })
    }

    pub fn params(&self) -> Phi4Params {
        self.params
    }

    /// The external field h.
    pub fn external_field(&self) -> f64 {
        self.h
    }
}

/// Refuses a non-finite external field.
fn check_field(h: f64) -> Result<(), ActionError> {
    if h.is_finite() {
        Ok(())
    } else {
        Err(ActionError {
            name: "h",
            value: h,
            reason: "must be a finite number",
        })
    }
}

impl Action for Phi4 {
    fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    fn is_z2_symmetric(&self) -> bool {
        self.h == 0.0
    }

    /// S = Σ_x [ (2d + m²) φ_x² + λ φ_x⁴ − 2 φ_x Σ_μ φ_{x+μ̂} − h φ_x ].
    fn action(&self, phi: &[f64]) -> f64 {
        let mass = 2.0 * self.lattice.dim() as f64 + self.params.m2;
        let (lambda, h) = (self.params.lambda, self.h);
        local_sum(&self.lattice, phi, |p, hops| {
            let p2 = p * p;
            p2 * (mass + lambda * p2) - 2.0 * p * hops - h * p
        })
    }

    /// ∂S/∂φ_x = 2(2d + m²) φ_x + 4λ φ_x³ − 2 Σ_μ (φ_{x+μ̂} + φ_{x−μ̂}) − h.
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        let mass2 = 2.0 * (2.0 * self.lattice.dim() as f64 + self.params.m2);
        let (lambda4, h) = (4.0 * self.params.lambda, self.h);
        local_fill(&self.lattice, phi, grad, |p, hops| {
            p * (mass2 + lambda4 * p * p) - 2.0 * hops - h
        });
    }

    fn lanes(&self) -> Option<&dyn LaneAction> {
        Some(self)
    }

    /// (H v)_x = (2(2d + m²) + 12λ φ_x²) v_x − 2 Σ_μ (v_{x+μ̂} + v_{x−μ̂}).
    fn hessian_vector(&self, phi: &[f64], v: &[f64], out: &mut [f64]) -> bool {
        let mass2 = 2.0 * (2.0 * self.lattice.dim() as f64 + self.params.m2);
        let lambda12 = 12.0 * self.params.lambda;
        self.lattice
            .neighbour_map(v, out, 0, Hop::Both, |vx, hops| mass2 * vx - 2.0 * hops);
        for ((o, p), vx) in out.iter_mut().zip(phi).zip(v) {
            *o += lambda12 * p * p * vx;
        }
        true
    }

    /// a ∂S/∂φ_x + b φ_x in one pass.
    fn scaled_gradient(&self, phi: &[f64], grad: &mut [f64], a: f64, b: f64) {
        let mass2 = 2.0 * (2.0 * self.lattice.dim() as f64 + self.params.m2);
        let (lambda4, h) = (4.0 * self.params.lambda, self.h);
        local_fill(&self.lattice, phi, grad, |p, hops| {
            a * (p * (mass2 + lambda4 * p * p) - 2.0 * hops - h) + b * p
        });
    }

    /// a ∂S/∂φ_x + b ∂S₀/∂φ_x in one pass.
    fn free_scaled_gradient(&self, phi: &[f64], grad: &mut [f64], a: f64, b: f64, free_m2: f64) {
        local_fill(
            &self.lattice,
            phi,
            grad,
            self.free_scaled_term(a, b, free_m2),
        );
    }
}

impl Phi4 {
    /// The site term of [`Action::free_scaled_gradient`] from φ_x and its neighbour sum:
    /// a (φ (2(2d + m²) + 4λ φ²) − 2 hops − h) + b (2(2d + m₀²) φ − 2 hops).
    fn free_scaled_term(&self, a: f64, b: f64, free_m2: f64) -> impl Fn(f64, f64) -> f64 + Sync {
        let mass2 = 2.0 * (2.0 * self.lattice.dim() as f64 + self.params.m2);
        let (lambda4, h) = (4.0 * self.params.lambda, self.h);
        let free = free_field_mass_term(self.lattice.dim(), free_m2);
        move |p, hops| {
            a * (p * (mass2 + lambda4 * p * p) - 2.0 * hops - h) + b * (free * p - 2.0 * hops)
        }
    }
}

impl LaneAction for Phi4 {
    fn lane_action(&self, phi: &[Lanes]) -> Lanes {
        let mass = 2.0 * self.lattice.dim() as f64 + self.params.m2;
        let (lambda, h) = (self.params.lambda, self.h);
        lane_local_sum(&self.lattice, phi, move |p, hops| {
            let p2 = p * p;
            p2 * (mass + lambda * p2) - 2.0 * p * hops - h * p
        })
    }

    fn lane_scaled_gradient(&self, phi: &[Lanes], grad: &mut [Lanes], a: f64, b: f64) {
        let mass2 = 2.0 * (2.0 * self.lattice.dim() as f64 + self.params.m2);
        let (lambda4, h) = (4.0 * self.params.lambda, self.h);
        self.lattice
            .lane_neighbour_map(phi, grad, 0, Hop::Both, move |p, hops| {
                a * (p * (mass2 + lambda4 * p * p) - 2.0 * hops - h) + b * p
            });
    }

    fn lane_free_scaled_gradient(
        &self,
        phi: &[Lanes],
        grad: &mut [Lanes],
        a: f64,
        b: f64,
        free_m2: f64,
    ) {
        let term = self.free_scaled_term(a, b, free_m2);
        self.lattice
            .lane_neighbour_map(phi, grad, 0, Hop::Both, term);
    }
}

/// φ⁴ in the hopping form, acting on φ̃ (see the module docs).
#[derive(Debug, Clone)]
pub struct Phi4Hopping {
    lattice: Lattice,
    params: HoppingParams,
    /// The external field h (AKS normalisation; 0: none).
    h: f64,
    /// The coefficient h √κ of −h √κ Σ_x φ̃_x.
    field: f64,
}

impl Phi4Hopping {
    /// φ⁴ with couplings (κ, λ̃); refuses an action unbounded below.
    pub fn new(lattice: Lattice, params: HoppingParams) -> Result<Self, ActionError> {
        params.validate(lattice.dim())?;
        Ok(Self {
            lattice,
            params,
            h: 0.0,
            field: 0.0,
        })
    }

    /// The same action with the external field h of the AKS form, −h Σ_x φ_x = −h √κ Σ_x φ̃_x;
    /// refuses a non-finite h.
    pub fn with_external_field(self, h: f64) -> Result<Self, ActionError> {
        check_field(h)?;
        let field = h * self.params.kappa.sqrt();
        Ok(Self { h, field, ..self })
    }

    /// The external field h (AKS normalisation).
    pub fn external_field(&self) -> f64 {
        self.h
    }

    pub fn params(&self) -> HoppingParams {
        self.params
    }
}

impl Action for Phi4Hopping {
    fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    fn is_z2_symmetric(&self) -> bool {
        self.field == 0.0
    }

    /// S = Σ_x [ −2κ φ̃_x Σ_μ φ̃_{x+μ̂} + φ̃_x² + λ̃ (φ̃_x² − 1)² − h √κ φ̃_x ].
    fn action(&self, phi: &[f64]) -> f64 {
        let HoppingParams {
            kappa,
            lambda_tilde,
        } = self.params;
        let field = self.field;
        local_sum(&self.lattice, phi, |p, hops| {
            let p2 = p * p;
            p2 + lambda_tilde * (p2 - 1.0).powi(2) - 2.0 * kappa * p * hops - field * p
        })
    }

    /// ∂S/∂φ̃_x = 2 φ̃_x + 4λ̃ (φ̃_x² − 1) φ̃_x − 2κ Σ_μ (φ̃_{x+μ̂} + φ̃_{x−μ̂}) − h √κ.
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        let HoppingParams {
            kappa,
            lambda_tilde,
        } = self.params;
        let field = self.field;
        local_fill(&self.lattice, phi, grad, |p, hops| {
            2.0 * p + 4.0 * lambda_tilde * (p * p - 1.0) * p - 2.0 * kappa * hops - field
        });
    }

    fn lanes(&self) -> Option<&dyn LaneAction> {
        Some(self)
    }

    /// (H v)_x = (2 + 4λ̃ (3φ̃_x² − 1)) v_x − 2κ Σ_μ (v_{x+μ̂} + v_{x−μ̂}).
    fn hessian_vector(&self, phi: &[f64], v: &[f64], out: &mut [f64]) -> bool {
        let HoppingParams {
            kappa,
            lambda_tilde,
        } = self.params;
        self.lattice
            .neighbour_map(v, out, 0, Hop::Both, |vx, hops| {
                (2.0 - 4.0 * lambda_tilde) * vx - 2.0 * kappa * hops
            });
        for ((o, p), vx) in out.iter_mut().zip(phi).zip(v) {
            *o += 12.0 * lambda_tilde * p * p * vx;
        }
        true
    }

    /// a ∂S/∂φ̃_x + b ∂S₀/∂φ̃_x in one pass.
    fn free_scaled_gradient(&self, phi: &[f64], grad: &mut [f64], a: f64, b: f64, free_m2: f64) {
        local_fill(
            &self.lattice,
            phi,
            grad,
            self.free_scaled_term(a, b, free_m2),
        );
    }
}

impl Phi4Hopping {
    /// The site term of [`Action::free_scaled_gradient`]:
    /// a (2φ̃ + 4λ̃ (φ̃² − 1) φ̃ − 2κ hops − h √κ) + b (2(2d + m₀²) φ̃ − 2 hops).
    fn free_scaled_term(&self, a: f64, b: f64, free_m2: f64) -> impl Fn(f64, f64) -> f64 + Sync {
        let HoppingParams {
            kappa,
            lambda_tilde,
        } = self.params;
        let field = self.field;
        let free = free_field_mass_term(self.lattice.dim(), free_m2);
        move |p, hops| {
            let g = 2.0 * p + 4.0 * lambda_tilde * (p * p - 1.0) * p - 2.0 * kappa * hops - field;
            a * g + b * (free * p - 2.0 * hops)
        }
    }
}

impl LaneAction for Phi4Hopping {
    fn lane_action(&self, phi: &[Lanes]) -> Lanes {
        let HoppingParams {
            kappa,
            lambda_tilde,
        } = self.params;
        let field = self.field;
        lane_local_sum(&self.lattice, phi, move |p, hops| {
            let p2 = p * p;
            p2 + lambda_tilde * (p2 - 1.0).powi(2) - 2.0 * kappa * p * hops - field * p
        })
    }

    /// a ∂S/∂φ̃ + b φ̃, combined after the gradient as the default `Action::scaled_gradient`.
    fn lane_scaled_gradient(&self, phi: &[Lanes], grad: &mut [Lanes], a: f64, b: f64) {
        let HoppingParams {
            kappa,
            lambda_tilde,
        } = self.params;
        let field = self.field;
        self.lattice
            .lane_neighbour_map(phi, grad, 0, Hop::Both, move |p, hops| {
                let g =
                    2.0 * p + 4.0 * lambda_tilde * (p * p - 1.0) * p - 2.0 * kappa * hops - field;
                a * g + b * p
            });
    }

    fn lane_free_scaled_gradient(
        &self,
        phi: &[Lanes],
        grad: &mut [Lanes],
        a: f64,
        b: f64,
        free_m2: f64,
    ) {
        let term = self.free_scaled_term(a, b, free_m2);
        self.lattice
            .lane_neighbour_map(phi, grad, 0, Hop::Both, term);
    }
}
