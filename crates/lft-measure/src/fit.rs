//! Pole mass: a cosh fit to C(t) over a plateau of the effective mass.
//!
//! On a periodic lattice of time extent T one state gives C(t) = A cosh(m (t − T/2)). The fit
//! minimises χ²(A, m) = Σ_{t=t₁}^{t₂} (C(t) − A cosh(m(t − T/2)))² / σ_t². For fixed m the best A
//! is linear, A = Σ w C h / Σ w h² (h = cosh(m(t − T/2)), w = 1/σ²), so only m is searched: a grid
//! scan, then golden-section refinement.

/// The best (m, A, χ²) of a cosh fit of `c` (indexed by t, time extent `l0`) over [t1, t2].
pub fn cosh_fit(
    c: &[f64],
    sigma: &[f64],
    l0: usize,
    t1: usize,
    t2: usize,
) -> Option<(f64, f64, f64)> {
    let half = l0 as f64 / 2.0;
    let ts: Vec<usize> = (t1..=t2)
        .filter(|&t| sigma[t] > 0.0 && c[t].is_finite())
        .collect();
    if ts.len() < 2 {
        return None;
    }
    let chi2_at = |m: f64| -> (f64, f64) {
        let (mut num, mut den) = (0.0, 0.0);
        for &t in &ts {
            let h = (m * (t as f64 - half)).cosh();
            let w = 1.0 / (sigma[t] * sigma[t]);
            num += w * c[t] * h;
            den += w * h * h;
        }
        let a = num / den;
        let chi2 = ts
            .iter()
            .map(|&t| ((c[t] - a * (m * (t as f64 - half)).cosh()) / sigma[t]).powi(2))
            .sum();
        (chi2, a)
    };
    // Scan m in (0, 8] on a grid, then refine around the best point.
    let grid: Vec<f64> = (1..=800).map(|i| i as f64 * 0.01).collect();
    let best = grid
        .iter()
        .copied()
        .min_by(|a, b| chi2_at(*a).0.total_cmp(&chi2_at(*b).0))?;
    let (mut lo, mut hi) = ((best - 0.01).max(1e-6), best + 0.01);
    let phi = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..100 {
        let (x1, x2) = (hi - phi * (hi - lo), lo + phi * (hi - lo));
        if chi2_at(x1).0 < chi2_at(x2).0 {
            hi = x2;
        } else {
            lo = x1;
        }
    }
    let m = 0.5 * (lo + hi);
    let (chi2, a) = chi2_at(m);
    Some((m, a, chi2))
}

/// Chooses a fit range [t₁, t₂] automatically. t₂ is the last t ≤ T/2 whose C(t) is more
/// than 2σ from zero. t₁ is the earliest t ≥ 1 from which every effective mass up to t₂ − 1
/// agrees with m_eff(t₁) within 2 combined standard errors. The range has at least two points.
pub fn choose_plateau(
    c: &[f64],
    c_err: &[f64],
    meff: &[Option<(f64, f64)>],
    l0: usize,
) -> Option<(usize, usize)> {
    let half = l0 / 2;
    let t2 = (1..=half).take_while(|&t| c[t] > 2.0 * c_err[t]).last()?;
    if t2 < 2 {
        return None;
    }
    for t1 in 1..t2 {
        let Some((m1, e1)) = meff[t1] else { continue };
        let flat = (t1..t2).all(|t| match meff[t] {
            Some((m, e)) => (m - m1).abs() <= 2.0 * (e * e + e1 * e1).sqrt(),
            None => false,
        });
        if flat {
            return Some((t1, t2));
        }
    }
    Some((t2 - 1, t2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_exact_cosh() {
        let (l0, m, a) = (16, 0.37, 2.5);
        let c: Vec<f64> = (0..l0).map(|t| a * (m * (t as f64 - 8.0)).cosh()).collect();
        let sigma = vec![0.01; l0];
        let (fm, fa, chi2) = cosh_fit(&c, &sigma, l0, 2, 8).unwrap();
        assert!(
            (fm - m).abs() < 1e-9 && (fa - a).abs() < 1e-8 && chi2 < 1e-12,
            "{fm} {fa} {chi2}"
        );
    }
}
