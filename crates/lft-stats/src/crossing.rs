//! Where two curves cross (the Binder cumulants U₄ of two volumes at the critical coupling),
//! with a jackknife error.
//!
//! Each curve is known as a function of the coupling on its full data and on each of its
//! jackknife samples. The two curves come from independent ensembles, so the crossing's
//! variance is the sum of the jackknife variances from either curve alone: the root of
//! a_(j) − b, then of a − b_(j).

use crate::reweight::jackknife_error;

/// Most steps of a root search.
const MAX_STEPS: usize = 100;
/// A root is found when its bracket is this small relative to the starting one.
const RELATIVE_TOLERANCE: f64 = 1e-12;

/// A curve known on its full data (`None`) and on jackknife samples `Some(0 … blocks−1)`.
pub struct JackknifeCurve<'a> {
    pub blocks: usize,
    pub at: &'a (dyn Fn(Option<usize>, f64) -> f64 + Sync),
}

/// A crossing point with its error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossing {
    pub value: f64,
    pub error: f64,
}

/// The root of d in [lo, hi], where d(lo) and d(hi) differ in sign (a zero at either end is
/// that end), by regula falsi with the Illinois modification: superlinear for smooth d, and
/// the bracket always shrinks.
pub fn root_in(d: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> Option<f64> {
    let (mut d_lo, mut d_hi) = (d(lo), d(hi));
    if !(d_lo.is_finite() && d_hi.is_finite()) {
        return None;
    }
    if d_lo == 0.0 {
        return Some(lo);
    }
    if d_hi == 0.0 {
        return Some(hi);
    }
    if d_lo.signum() == d_hi.signum() {
        return None;
    }
    let tolerance = RELATIVE_TOLERANCE * (hi - lo).abs();
    // Which end moved last: the other end's value is halved when the same end moves twice.
    let mut last = 0i8;
    let mut previous = f64::NAN;
    for _ in 0..MAX_STEPS {
        let x = (lo * d_hi - hi * d_lo) / (d_hi - d_lo);
        let d_x = d(x);
        if !d_x.is_finite() {
            return None;
        }
        if d_x == 0.0 || (hi - lo).abs() < tolerance || (x - previous).abs() < tolerance {
            return Some(x);
        }
        previous = x;
        if d_x.signum() == d_lo.signum() {
            lo = x;
            d_lo = d_x;
            if last == -1 {
                d_hi *= 0.5;
            }
            last = -1;
        } else {
            hi = x;
            d_hi = d_x;
            if last == 1 {
                d_lo *= 0.5;
            }
            last = 1;
        }
    }
    Some(previous)
}

/// The first root of d along `grid` (ascending): the first cell where d changes sign, refined
/// by bisection.
pub fn first_root(d: impl Fn(f64) -> f64, grid: &[f64]) -> Option<f64> {
    let values: Vec<f64> = grid.iter().map(|&c| d(c)).collect();
    (0..grid.len().saturating_sub(1))
        .find(|&i| {
            values[i].is_finite() && values[i + 1].is_finite() && values[i] * values[i + 1] <= 0.0
        })
        .and_then(|i| root_in(&d, grid[i], grid[i + 1]))
}

/// The crossing of curves a and b within `grid` (ascending), and its jackknife error. None
/// where the full curves do not cross in the grid; where a jackknife sample's curves do not,
/// the error is infinite.
pub fn crossing(a: &JackknifeCurve, b: &JackknifeCurve, grid: &[f64]) -> Option<Crossing> {
    let value = first_root(|c| (a.at)(None, c) - (b.at)(None, c), grid)?;
    // A jackknife sample's root lies next to the full one: search a few cells around it first.
    let cell = grid.partition_point(|&c| c <= value).saturating_sub(1);
    let near = &grid[cell.saturating_sub(2)..(cell + 4).min(grid.len())];
    let sample_root = |d: &dyn Fn(f64) -> f64| first_root(d, near).or_else(|| first_root(d, grid));
    let mut variance = 0.0;
    for (curve, other, blocks) in [(a, b, a.blocks), (b, a, b.blocks)] {
        let mut roots = Vec::with_capacity(blocks);
        for j in 0..blocks {
            match sample_root(&|c| (curve.at)(Some(j), c) - (other.at)(None, c)) {
                Some(r) => roots.push(r),
                None => {
                    return Some(Crossing {
                        value,
                        error: f64::INFINITY,
                    });
                }
            }
        }
        if !roots.is_empty() {
            variance += jackknife_error(&roots).powi(2);
        }
    }
    Some(Crossing {
        value,
        error: variance.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisection_finds_the_root_of_a_line() {
        let r = root_in(|x| 2.0 * x - 1.0, 0.0, 3.0).unwrap();
        assert!((r - 0.5).abs() < 1e-12);
        assert!(root_in(|x| x * x + 1.0, -1.0, 1.0).is_none());
    }

    #[test]
    fn the_first_root_along_a_grid_is_taken() {
        // sin has roots at 0, π, 2π, …: from 0.1 on, the first is π.
        let grid: Vec<f64> = (0..=40).map(|i| 0.1 + i as f64 * 0.25).collect();
        let r = first_root(f64::sin, &grid).unwrap();
        assert!((r - std::f64::consts::PI).abs() < 1e-10, "{r}");
    }
}
