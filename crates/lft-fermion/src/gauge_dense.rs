//! Exact determinant, inverse and force of the gauge-covariant staggered operator through its
//! even-site block (dense; docs/PHYSICS.md, "Schwinger model"):
//!
//!   M_ee = m² − K_eo K_oe = L L†  (Cholesky),   log det D = log det M_ee = 2 Σ_i log L_ii,
//!
//! and with A = M_ee⁻¹, B = K_oe A (odd × even), since D⁻¹ = (D D†)⁻¹ D† = D†(D D†)⁻¹:
//!
//!   (D⁻¹)_{e e'} = m A_{e e'},   (D⁻¹)_{o e} = −B_{o e},   (D⁻¹)_{e o} = conj(B_{o e}),
//!   (D⁻¹)_{o o} = (1/m)(1 − Σ_e B_{o e} conj(K_{o e}))   (push-through: M_oo⁻¹ = m⁻²(1 + K_oe A K_eo)),
//!   tr D⁻¹ = 2m tr A                          (the two parities contribute equally),
//!   ∂(−log det D)/∂θ_μ(x) = 2 ε(x) Re(i K_{x,x+μ̂} P),  P = B_{x+μ̂, x} (x even), conj(B_{x, x+μ̂}) (x odd).
//!
//! One factorisation costs (V/2)³/3 complex multiply-adds, the inverse (V/2)³·2/3 more (B is
//! sparse times dense):
//! for the lattices of exact HMC and of measurements (L ≲ 32). Sequential below faer's
//! parallel threshold (the chains or the configurations of a batch run in parallel instead).

use crate::dense::parallelism;
use crate::{FermionError, GaugeDirac};
use faer::Mat;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::llt::{factor, inverse};
use num_complex::Complex64;

/// M_ee⁻¹ and what follows from it for one link configuration.
#[derive(Debug, Clone)]
pub struct EvenBlockInverse {
    mass: f64,
    log_det: f64,
    /// A = M_ee⁻¹.
    a: Mat<Complex64>,
    /// B = K_oe A.
    b: Mat<Complex64>,
    /// K_oe.
    k_oe: Mat<Complex64>,
    /// The slot of every site in its parity's list, and the parity (true = even).
    slot: Vec<(usize, bool)>,
}

impl EvenBlockInverse {
    /// Factorises M_ee of D(θ); [`FermionError::Singular`] where it is not positive definite
    /// (an exact zero mode at m = 0).
    pub fn of(dirac: &GaugeDirac) -> Result<Self, FermionError> {
        let geometry = dirac.geometry();
        let k_oe = dirac.dense_hop_even_to_odd();
        // Cholesky in place: the lower triangle of `l` becomes L.
        let mut l = dirac.dense_normal_even();
        let n = l.nrows();
        let par = parallelism(n);
        let zero = Complex64::default();
        let mut buf = MemBuffer::new(StackReq::any_of(&[
            factor::cholesky_in_place_scratch::<Complex64>(n, par, Default::default()),
            inverse::inverse_scratch::<Complex64>(n, par),
        ]));
        let stack = MemStack::new(&mut buf);
        factor::cholesky_in_place(
            l.as_mut(),
            Default::default(),
            par,
            stack,
            Default::default(),
        )
        .map_err(|_| FermionError::Singular)?;
        let log_det = 2.0 * (0..n).map(|i| l[(i, i)].re.ln()).sum::<f64>();
        // A = L⁻† L⁻¹: faer fills the lower triangle; A is Hermitian.
        let mut a = Mat::<Complex64>::zeros(n, n);
        inverse::inverse(a.as_mut(), l.as_ref(), par, stack);
        for j in 0..n {
            for i in 0..j {
                a[(i, j)] = a[(j, i)].conj();
            }
        }
        // B = K_oe A row by row over the 2d non-zeros of each row of K_oe: O(d n²).
        let mut b = Mat::<Complex64>::from_fn(n, n, |_, _| zero);
        for o in 0..n {
            for e in (0..n).filter(|&e| k_oe[(o, e)] != zero) {
                let k = k_oe[(o, e)];
                for j in 0..n {
                    b[(o, j)] += k * a[(e, j)];
                }
            }
        }
        let slot = (0..geometry.volume()).map(|x| geometry.place(x)).collect();
        Ok(Self {
            mass: dirac.mass(),
            log_det,
            a,
            b,
            k_oe,
            slot,
        })
    }

    /// log det D(θ) (real: det D > 0).
    pub fn log_det(&self) -> f64 {
        self.log_det
    }

    /// Re tr D⁻¹ = 2m Re tr M_ee⁻¹.
    pub fn trace(&self) -> f64 {
        let half = self.a.nrows();
        2.0 * self.mass * (0..half).map(|i| self.a[(i, i)].re).sum::<f64>()
    }

    /// (D⁻¹)_{x, y} for any sink x and an even source y.
    pub fn inverse_from_even(&self, x: usize, y: usize) -> Complex64 {
        let (j, y_even) = self.slot[y];
        assert!(
            y_even,
            "the source of inverse_from_even must be an even site"
        );
        match self.slot[x] {
            (i, true) => self.a[(i, j)] * self.mass,
            (i, false) => -self.b[(i, j)],
        }
    }

    /// Re (D⁻¹)_{xx} for every site (0 at m = 0, where D⁻¹ = −K⁻¹ only connects opposite
    /// parities).
    pub fn diagonal(&self) -> Vec<f64> {
        let m = self.mass;
        self.slot
            .iter()
            .map(|&(i, even)| {
                if m == 0.0 {
                    0.0
                } else if even {
                    m * self.a[(i, i)].re
                } else {
                    let s: Complex64 = (0..self.b.ncols())
                        .map(|e| self.b[(i, e)] * self.k_oe[(i, e)].conj())
                        .sum();
                    (1.0 - s.re) / m
                }
            })
            .collect()
    }

    /// Adds ∂(−log det D)/∂θ_μ(x) to `grad` (`[d·V]`).
    pub fn add_force(&self, dirac: &GaugeDirac, grad: &mut [f64]) {
        dirac.add_link_force(grad, |x, y| match (self.slot[x], self.slot[y]) {
            ((i, true), (j, false)) => self.b[(j, i)],
            ((i, false), (j, true)) => self.b[(i, j)].conj(),
            _ => unreachable!("a link joins sites of opposite parity"),
        });
    }
}
