//! The two kinds of fermion vectors: real (`f64`) and complex (`Complex64`).

use num_complex::Complex64;
use std::ops::{Add, AddAssign, Mul, Sub};

/// A component of a fermion vector. D is real, so it maps real vectors to real vectors and
/// complex ones to complex ones; every routine here is generic over the two.
pub trait FermionScalar:
    Copy
    + Send
    + Sync
    + Default
    + PartialEq
    + std::fmt::Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + AddAssign
    + Mul<f64, Output = Self>
    + 'static
{
    /// |z|².
    fn norm_sqr(self) -> f64;
    /// Re(z̄ w).
    fn re_dot(self, w: Self) -> f64;
    /// Is every component finite?
    fn is_finite(self) -> bool;
}

impl FermionScalar for f64 {
    #[inline]
    fn norm_sqr(self) -> f64 {
        self * self
    }
    #[inline]
    fn re_dot(self, w: Self) -> f64 {
        self * w
    }
    #[inline]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
}

impl FermionScalar for Complex64 {
    #[inline]
    fn norm_sqr(self) -> f64 {
        Complex64::norm_sqr(&self)
    }
    #[inline]
    fn re_dot(self, w: Self) -> f64 {
        self.re * w.re + self.im * w.im
    }
    #[inline]
    fn is_finite(self) -> bool {
        Complex64::is_finite(self)
    }
}

/// Re(a†b) = Σ_x Re(ā_x b_x).
pub fn re_dot<T: FermionScalar>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a.re_dot(*b)).sum()
}

/// |a|² = Σ_x |a_x|².
pub fn norm_sqr<T: FermionScalar>(a: &[T]) -> f64 {
    a.iter().map(|a| a.norm_sqr()).sum()
}
