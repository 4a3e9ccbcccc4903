//! Exact determinants and inverses of D by dense LU with partial pivoting (faer).
//!
//! PA = LU with L unit lower triangular, so det D = (−1)^{transpositions} Π_i U_ii. The product
//! overflows on lattice-sized matrices, so only logs are accumulated:
//! log|det D| = Σ_i log|U_ii| and sign(det D) = (−1)^{transpositions} Π_i sign(U_ii).

use crate::{Dirac, FermionError};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::lu::partial_pivoting::{factor, inverse};
use faer::perm::PermRef;
use faer::{Mat, Par};

/// Matrices at least this large are factorised with faer's rayon parallelism (smaller ones
/// sequentially: below it threads cost more than they give, and chains run in parallel).
const PARALLEL_DIM: usize = 512;

pub(crate) fn parallelism(n: usize) -> Par {
    if n >= PARALLEL_DIM && rayon::current_num_threads() > 1 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

/// The LU factorisation of one dense D.
#[derive(Debug, Clone)]
pub struct DenseLu {
    lu: Mat<f64>,
    perm: Vec<usize>,
    perm_inv: Vec<usize>,
    transpositions: usize,
}

impl DenseLu {
    /// Factorises D(φ) (built densely from the matrix-free operator).
    pub fn of(dirac: &Dirac) -> Self {
        Self::factor(dirac.dense())
    }

    /// Factorises a square matrix in place.
    pub fn factor(mut a: Mat<f64>) -> Self {
        let n = a.nrows();
        assert_eq!(n, a.ncols(), "LU needs a square matrix");
        let par = parallelism(n);
        let mut perm = vec![0usize; n];
        let mut perm_inv = vec![0usize; n];
        let params = Default::default();
        let mut buf = MemBuffer::new(factor::lu_in_place_scratch::<usize, f64>(n, n, par, params));
        let (info, _) = factor::lu_in_place(
            a.as_mut(),
            &mut perm,
            &mut perm_inv,
            par,
            MemStack::new(&mut buf),
            params,
        );
        Self {
            lu: a,
            perm,
            perm_inv,
            transpositions: info.transposition_count,
        }
    }

    pub fn dim(&self) -> usize {
        self.lu.nrows()
    }

    /// log|det D| = Σ_i log|U_ii| (−∞ for a singular matrix).
    pub fn log_abs_det(&self) -> f64 {
        (0..self.dim()).map(|i| self.lu[(i, i)].abs().ln()).sum()
    }

    /// sign(det D) ∈ {−1, 0, +1}.
    pub fn sign(&self) -> f64 {
        let mut sign = if self.transpositions.is_multiple_of(2) {
            1.0
        } else {
            -1.0
        };
        for i in 0..self.dim() {
            let u = self.lu[(i, i)];
            if u == 0.0 {
                return 0.0;
            }
            if u < 0.0 {
                sign = -sign;
            }
        }
        sign
    }

    fn is_singular(&self) -> bool {
        (0..self.dim()).any(|i| self.lu[(i, i)] == 0.0)
    }

    /// D⁻¹, or an error when D is exactly singular.
    pub fn inverse(&self) -> Result<Mat<f64>, FermionError> {
        if self.is_singular() {
            return Err(FermionError::Singular);
        }
        let n = self.dim();
        let par = parallelism(n);
        let mut out = Mat::<f64>::zeros(n, n);
        let mut buf = MemBuffer::new(inverse::inverse_scratch::<usize, f64>(n, par));
        // The strictly lower part of `lu` is L (unit diagonal implied), the upper part is U.
        let perm = PermRef::new_checked(&self.perm, &self.perm_inv, n);
        inverse::inverse(
            out.as_mut(),
            self.lu.as_ref(),
            self.lu.as_ref(),
            perm,
            par,
            MemStack::new(&mut buf),
        );
        Ok(out)
    }

    /// The diagonal (D⁻¹)_xx.
    pub fn inverse_diagonal(&self) -> Result<Vec<f64>, FermionError> {
        let inv = self.inverse()?;
        Ok((0..self.dim()).map(|i| inv[(i, i)]).collect())
    }
}
