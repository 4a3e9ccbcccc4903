//! Reductions in a fixed order that the compiler vectorises: 8 interleaved partial sums,
//! folded pairwise at the end. One running sum is a chain of dependent additions (one per
//! cycle at best, never vectorised, since floating-point addition is not associative); these
//! are reproducible and run at the vector units' speed.

/// Σ_i a_i in 8 interleaved partial sums, added at the end: a fixed order (so the result is
/// reproducible) that the compiler vectorises, unlike one running sum.
#[inline(always)]
pub(crate) fn lane_sum(a: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let chunks = a.chunks_exact(8);
    let rest: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        for j in 0..8 {
            acc[j] += c[j];
        }
    }
    fold_lanes(acc) + rest
}

/// Σ_i a_i b_i, in the order of [`lane_sum`].
#[inline(always)]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut acc = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    fold_lanes(acc) + rest
}

/// Σ_i a_i b_i c_i, in the order of [`lane_sum`].
#[inline(always)]
pub(crate) fn dot3(a: &[f64], b: &[f64], c: &[f64]) -> f64 {
    assert!(a.len() == b.len() && a.len() == c.len());
    let mut acc = [0.0; 8];
    let (ca, cb, cc) = (a.chunks_exact(8), b.chunks_exact(8), c.chunks_exact(8));
    let rest: f64 = (ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .zip(cc.remainder()))
    .map(|((x, y), z)| x * y * z)
    .sum();
    for ((x, y), z) in ca.zip(cb).zip(cc) {
        for j in 0..8 {
            acc[j] += x[j] * y[j] * z[j];
        }
    }
    fold_lanes(acc) + rest
}

#[inline(always)]
fn fold_lanes(acc: [f64; 8]) -> f64 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against plain sums, for lengths around the 8-lane boundary.
    #[test]
    fn agree_with_plain_sums() {
        for n in [0, 1, 7, 8, 9, 23, 64, 1000] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
            let c: Vec<f64> = (0..n).map(|i| 1.0 + i as f64 * 1e-3).collect();
            let plain = |f: &dyn Fn(usize) -> f64| (0..n).map(f).sum::<f64>();
            assert!((lane_sum(&a) - plain(&|i| a[i])).abs() < 1e-12);
            assert!((dot(&a, &b) - plain(&|i| a[i] * b[i])).abs() < 1e-12);
            assert!((dot3(&a, &b, &c) - plain(&|i| a[i] * b[i] * c[i])).abs() < 1e-12);
        }
    }
}
