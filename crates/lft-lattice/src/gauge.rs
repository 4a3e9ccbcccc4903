//! The geometry of U(1) link fields, which every gauge code needs: link indices, plaquette
//! angles, staples, rectangular Wilson loops, Polyakov lines, the geometric topological charge
//! and gauge transformations (docs/PHYSICS.md, "2D U(1) gauge theory").
//!
//! A link field holds the angles θ_μ(x) of the links U_μ(x) = e^{iθ_μ(x)}, μ = 0 … d − 1, as
//! one slice of d·V values: link (μ, x) at index μ·V + x, so that a stored configuration has
//! the element shape (d, L0, L1, …). Plaquette angles are
//!   θ_μν(x) = θ_μ(x) + θ_ν(x + μ̂) − θ_μ(x + ν̂) − θ_ν(x),   μ < ν.

use crate::Lattice;
use std::f64::consts::{PI, TAU};

/// The index of link (μ, x) in a link field of `lattice`: μ·V + x.
#[inline]
pub fn link(lattice: &Lattice, mu: usize, x: usize) -> usize {
    mu * lattice.volume() + x
}

/// An angle brought into [−π, π) (the stored range of link angles).
#[inline]
pub fn wrap_link(a: f64) -> f64 {
    let w = a - TAU * ((a + PI) / TAU).floor();
    // Rounding can leave w = π for a just below an odd multiple of π.
    if w >= PI { w - TAU } else { w }
}

/// An angle brought into (−π, π] (the range of plaquette angles in the geometric charge).
#[inline]
pub fn wrap_plaquette(a: f64) -> f64 {
    -wrap_link(-a)
}

/// θ_μν(x) = θ_μ(x) + θ_ν(x + μ̂) − θ_μ(x + ν̂) − θ_ν(x), not wrapped.
#[inline]
pub fn plaquette_angle(lattice: &Lattice, theta: &[f64], x: usize, mu: usize, nu: usize) -> f64 {
    let v = lattice.volume();
    theta[mu * v + x] + theta[nu * v + lattice.fwd(x, mu)]
        - theta[mu * v + lattice.fwd(x, nu)]
        - theta[nu * v + x]
}

/// The planes (μ, ν), μ < ν, of a d-dimensional lattice, in order.
pub fn planes(dim: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..dim).flat_map(move |mu| (mu + 1..dim).map(move |nu| (mu, nu)))
}

/// Every plaquette angle, `[planes, V]` in the order of [`planes`] (not wrapped).
pub fn plaquette_angles(lattice: &Lattice, theta: &[f64]) -> Vec<f64> {
    let v = lattice.volume();
    let mut out = Vec::with_capacity(v * lattice.dim() * (lattice.dim() - 1) / 2);
    for (mu, nu) in planes(lattice.dim()) {
        out.extend((0..v).map(|x| plaquette_angle(lattice, theta, x, mu, nu)));
    }
    out
}

/// (1/(#plaquettes)) Σ_{x, μ<ν} cos θ_μν(x): the average plaquette.
pub fn average_plaquette(lattice: &Lattice, theta: &[f64]) -> f64 {
    let angles = plaquette_angles(lattice, theta);
    angles.iter().map(|a| a.cos()).sum::<f64>() / angles.len() as f64
}

/// The geometric topological charge of a 2D field, Q = (1/2π) Σ_x wrap(θ_01(x)) with wrap
/// into (−π, π]: an integer on the torus (up to rounding), since every link enters two
/// plaquettes with opposite signs.
pub fn topological_charge(lattice: &Lattice, theta: &[f64]) -> f64 {
    assert_eq!(
        lattice.dim(),
        2,
        "the geometric charge is that of a 2D field"
    );
    (0..lattice.volume())
        .map(|x| wrap_plaquette(plaquette_angle(lattice, theta, x, 0, 1)))
        .sum::<f64>()
        / TAU
}

/// Σ over the plaquettes containing link (μ, x) of e^{i(θ_P − θ_μ(x))} with the sign of the
/// link in P: the staple sum A with Σ_{P ∋ l} cos θ_P = Re(e^{iθ_l} A), returned as (Re A,
/// Im A). The local action of the link is −β Re(e^{iθ_l} A) = −β |A| cos(θ_l + arg A).
pub fn staple_sum(lattice: &Lattice, theta: &[f64], mu: usize, x: usize) -> (f64, f64) {
    let v = lattice.volume();
    let t = |nu: usize, y: usize| theta[nu * v + y];
    let (mut re, mut im) = (0.0, 0.0);
    for nu in (0..lattice.dim()).filter(|&nu| nu != mu) {
        // The plaquette in the (μ, ν) plane at x, where θ_μ(x) enters with +:
        //   θ_μ(x) + θ_ν(x + μ̂) − θ_μ(x + ν̂) − θ_ν(x).
        let up = t(nu, lattice.fwd(x, mu)) - t(mu, lattice.fwd(x, nu)) - t(nu, x);
        // The plaquette at x − ν̂, where it enters as θ_μ((x − ν̂) + ν̂) with −:
        //   θ_μ(x − ν̂) + θ_ν(x − ν̂ + μ̂) − θ_μ(x) − θ_ν(x − ν̂), i.e. −θ_μ(x) + down.
        let y = lattice.bwd(x, nu);
        let down = t(mu, y) + t(nu, lattice.fwd(y, mu)) - t(nu, y);
        // cos(θ + up) + cos(−θ + down) = Re e^{iθ} (e^{i up} + e^{−i down}).
        re += up.cos() + down.cos();
        im += up.sin() - down.sin();
    }
    (re, im)
}

/// The phase of the R × T rectangular loop at x in the (μ, ν) plane: R links along μ, then T
/// along ν, back R along −μ and T along −ν (the sum of the enclosed plaquette angles, mod 2π).
pub fn rectangle_angle(
    lattice: &Lattice,
    theta: &[f64],
    x: usize,
    (mu, r): (usize, usize),
    (nu, t): (usize, usize),
) -> f64 {
    let v = lattice.volume();
    let mut sum = 0.0;
    let mut y = x;
    for _ in 0..r {
        sum += theta[mu * v + y];
        y = lattice.fwd(y, mu);
    }
    for _ in 0..t {
        sum += theta[nu * v + y];
        y = lattice.fwd(y, nu);
    }
    for _ in 0..r {
        y = lattice.bwd(y, mu);
        sum -= theta[mu * v + y];
    }
    for _ in 0..t {
        y = lattice.bwd(y, nu);
        sum -= theta[nu * v + y];
    }
    sum
}

/// The Polyakov line of a 2D field at every spatial site x₁: the angle Σ_{x₀} θ_0(x₀, x₁) of
/// P(x₁) = e^{i Σ_{x₀} θ_0(x₀, x₁)}.
pub fn polyakov_angles(lattice: &Lattice, theta: &[f64]) -> Vec<f64> {
    assert_eq!(lattice.dim(), 2, "Polyakov lines of a 2D field");
    let (l0, l1) = (lattice.shape()[0], lattice.shape()[1]);
    (0..l1)
        .map(|x1| (0..l0).map(|x0| theta[lattice.index(&[x0, x1])]).sum())
        .collect()
}

/// The gauge transformation θ_μ(x) ← θ_μ(x) + α(x) − α(x + μ̂) (not wrapped), which leaves
/// every plaquette angle (and every closed loop) unchanged.
pub fn gauge_transform(lattice: &Lattice, theta: &mut [f64], alpha: &[f64]) {
    let v = lattice.volume();
    for mu in 0..lattice.dim() {
        for x in 0..v {
            theta[mu * v + x] += alpha[x] - alpha[lattice.fwd(x, mu)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_lands_in_range_and_keeps_the_angle() {
        for &a in &[
            -7.0,
            -PI,
            -3.0,
            0.0,
            3.0,
            PI,
            4.0,
            100.0,
            -PI - 1e-17,
            PI - 1e-17,
        ] {
            let w = wrap_link(a);
            assert!((-PI..PI).contains(&w), "{a} → {w}");
            assert!(
                ((a - w) / TAU - ((a - w) / TAU).round()).abs() < 1e-12,
                "{a} → {w}"
            );
            let p = wrap_plaquette(a);
            assert!(p > -PI && p <= PI, "{a} → {p}");
        }
        assert_eq!(wrap_link(PI), -PI);
        assert_eq!(wrap_plaquette(-PI), PI);
    }

    /// The staple sum gives the plaquettes of each link: Σ_{P ∋ l} cos θ_P = Re(e^{iθ_l} A),
    /// in 2D and 3D.
    #[test]
    fn staples_give_the_plaquettes_of_a_link() {
        for shape in [vec![4, 3], vec![3, 4, 2]] {
            let lattice = Lattice::new(&shape).unwrap();
            let (v, d) = (lattice.volume(), lattice.dim());
            let theta: Vec<f64> = (0..d * v).map(|i| (i as f64 * 1.618).sin() * 3.1).collect();
            for mu in 0..d {
                for x in 0..v {
                    let mut want = 0.0;
                    for nu in (0..d).filter(|&nu| nu != mu) {
                        let (a, b) = (mu.min(nu), mu.max(nu));
                        for y in [x, lattice.bwd(x, nu)] {
                            want += plaquette_angle(&lattice, &theta, y, a, b).cos();
                        }
                    }
                    let (re, im) = staple_sum(&lattice, &theta, mu, x);
                    let t = theta[link(&lattice, mu, x)];
                    let got = t.cos() * re - t.sin() * im;
                    assert!((got - want).abs() < 1e-12, "{shape:?} link ({mu}, {x})");
                }
            }
        }
    }

    #[test]
    fn a_rectangle_is_the_sum_of_its_plaquettes() {
        let lattice = Lattice::new(&[6, 5]).unwrap();
        let theta: Vec<f64> = (0..2 * 30).map(|i| (i as f64 * 0.37).sin() * 3.0).collect();
        for x in [0, 7, 29] {
            let loop_angle = rectangle_angle(&lattice, &theta, x, (1, 2), (0, 3));
            // The 2 × 3 plaquettes with their orientation in the (0, 1) plane: the loop goes
            // along 1 first, so it circles the plaquettes the other way.
            let mut sum = 0.0;
            for i in 0..2 {
                for j in 0..3 {
                    let y = lattice.shifted(x, &[j, i]);
                    sum -= plaquette_angle(&lattice, &theta, y, 0, 1);
                }
            }
            assert!((loop_angle - sum).abs() < 1e-12, "{loop_angle} vs {sum}");
        }
    }
}
