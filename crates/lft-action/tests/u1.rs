//! The U(1) Wilson action and its exact results: the force against finite differences, gauge
//! invariance of S and of the geometric charge, Q an integer, periodicity; the character
//! expansion against the values in docs/PHYSICS.md, against its own second route to ⟨Q²⟩
//! (Σ Q² P(Q) from Z(θ)), against its infinite-volume limits, and against direct numerical
//! integration over the links of a 2 × 2 lattice with the gauge fixed on a maximal tree.

use lft_action::{Action, U1Exact, U1Wilson};
use lft_lattice::gauge::{
    average_plaquette, gauge_transform, plaquette_angle, rectangle_angle, topological_charge,
    wrap_plaquette,
};
use lft_lattice::{Lattice, stream_rng, uniform};
use std::f64::consts::PI;

fn random_angles(n: usize, seed: u64, spread: f64) -> Vec<f64> {
    let mut rng = stream_rng(seed, 0);
    (0..n)
        .map(|_| spread * (2.0 * uniform(&mut rng) - 1.0))
        .collect()
}

#[test]
fn the_force_matches_finite_differences() {
    for (shape, beta) in [(vec![4, 5], 1.3), (vec![3, 4, 2], 0.7)] {
        let lattice = Lattice::new(&shape).unwrap();
        let action = U1Wilson::new(lattice, beta).unwrap();
        let theta = random_angles(action.state_len(), 1, 3.0);
        let mut grad = vec![0.0; theta.len()];
        action.gradient(&theta, &mut grad);
        let h = 1e-5;
        for l in 0..theta.len() {
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[l] += h;
            down[l] -= h;
            let fd = (action.action(&up) - action.action(&down)) / (2.0 * h);
            assert!(
                (fd - grad[l]).abs() < 1e-8 * grad[l].abs().max(1.0),
                "{shape:?} link {l}: {} vs {fd}",
                grad[l]
            );
        }
    }
}

#[test]
fn action_and_charge_are_gauge_invariant_and_q_is_an_integer() {
    let lattice = Lattice::new(&[6, 8]).unwrap();
    let action = U1Wilson::new(lattice.clone(), 2.0).unwrap();
    for seed in 0..20 {
        let theta = random_angles(action.state_len(), seed, PI);
        let q = topological_charge(&lattice, &theta);
        assert!((q - q.round()).abs() < 1e-9, "Q = {q}");
        let alpha = random_angles(lattice.volume(), 100 + seed, 10.0);
        let mut moved = theta.clone();
        gauge_transform(&lattice, &mut moved, &alpha);
        let (s, s2) = (action.action(&theta), action.action(&moved));
        assert!((s - s2).abs() < 1e-12 * s.abs().max(1.0), "S {s} vs {s2}");
        let q2 = topological_charge(&lattice, &moved);
        assert!((q - q2).abs() < 1e-12, "Q {q} vs {q2}");
        // Wilson loops too.
        for x in [0, 13] {
            let (a, b) = (
                rectangle_angle(&lattice, &theta, x, (1, 3), (0, 2)).cos(),
                rectangle_angle(&lattice, &moved, x, (1, 3), (0, 2)).cos(),
            );
            assert!((a - b).abs() < 1e-12, "W {a} vs {b}");
        }
    }
    // Large angles (an unwrapped HMC state): Q is still an integer.
    let theta = random_angles(action.state_len(), 77, 40.0);
    let q = topological_charge(&lattice, &theta);
    assert!((q - q.round()).abs() < 1e-9, "Q = {q}");
}

#[test]
fn canonical_angles_keep_the_action_and_the_charge() {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let action = U1Wilson::new(lattice.clone(), 1.0).unwrap();
    let theta = random_angles(action.state_len(), 5, 20.0);
    let mut wrapped = theta.clone();
    assert!(action.canonicalize(&mut wrapped));
    assert!(wrapped.iter().all(|t| (-PI..PI).contains(t)));
    assert!(!action.canonicalize(&mut wrapped.clone()), "idempotent");
    assert!((action.action(&theta) - action.action(&wrapped)).abs() < 1e-11);
    let (q1, q2) = (
        topological_charge(&lattice, &theta),
        topological_charge(&lattice, &wrapped),
    );
    assert!((q1 - q2).abs() < 1e-9);
    let mut rng = stream_rng(2, 3);
    let mut hot = vec![0.0; action.state_len()];
    action.hot_start(&mut rng, &mut hot);
    assert!(hot.iter().all(|t| (-PI..PI).contains(t)));
    let mean = hot.iter().sum::<f64>() / hot.len() as f64;
    assert!(mean.abs() < 4.0 * PI / (3.0 * hot.len() as f64).sqrt());
}

#[test]
fn bad_couplings_are_refused() {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    for beta in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = U1Wilson::new(lattice.clone(), beta).unwrap_err();
        assert_eq!(e.name, "beta");
        assert!(U1Exact::new(beta, 16).is_err());
    }
    assert!(U1Wilson::new(Lattice::new(&[8]).unwrap(), 1.0).is_err());
}

/// The check values of docs/PHYSICS.md.
#[test]
fn exact_results_match_the_reference_values() {
    let e = U1Exact::new(2.0, 64).unwrap();
    assert!(
        (e.plaquette() - 0.697_774_658_0).abs() < 1e-10,
        "{}",
        e.plaquette()
    );
    assert!((e.q2() - 1.239_298_91).abs() < 1e-8, "{}", e.q2());
    let e = U1Exact::new(4.0, 16).unwrap();
    assert!(
        (e.plaquette() - 0.870_697_751_9).abs() < 1e-10,
        "{}",
        e.plaquette()
    );
}

/// Two routes to ⟨Q²⟩ agree: the Bessel sums of A_n, B_n and the distribution P(Q) from
/// Fourier analysing Z(θ); P(Q) is normalised and even.
#[test]
fn the_charge_distribution_gives_the_same_q2() {
    for (beta, volume) in [
        (1.0, 4),
        (2.0, 16),
        (4.0, 16),
        (2.0, 64),
        (6.0, 256),
        (12.0, 64),
    ] {
        let e = U1Exact::new(beta, volume).unwrap();
        let q_max = 40;
        let p = e.charge_distribution(q_max);
        let total: f64 = p.iter().sum();
        assert!(
            (total - 1.0).abs() < 1e-10,
            "β {beta}, V {volume}: Σ P = {total}"
        );
        for q in 0..=q_max {
            assert!((p[q_max + q] - p[q_max - q]).abs() < 1e-12, "P(Q) even");
            assert!(p[q_max + q] > -1e-12, "P({q}) = {}", p[q_max + q]);
        }
        let q2: f64 = p
            .iter()
            .enumerate()
            .map(|(i, pq)| (i as f64 - q_max as f64).powi(2) * pq)
            .sum();
        assert!(
            (q2 - e.q2()).abs() < 1e-9 * e.q2().max(1.0),
            "β {beta}, V {volume}: Σ Q² P(Q) = {q2}, A/B sums {}",
            e.q2()
        );
    }
}

/// In large volume the n ≠ 0 terms vanish: ⟨cos θ_P⟩ = I₁/I₀, W(A) = (I₁/I₀)^A, χ_t = B₀/I₀,
/// up to β = 20 on 64 × 64, where every value stays finite.
#[test]
fn large_volumes_reach_the_infinite_volume_limits() {
    for beta in [0.5, 2.0, 6.0, 20.0] {
        let e = U1Exact::new(beta, 64 * 64).unwrap();
        let r = e.plaquette_infinite_volume();
        assert!(e.log_z().is_finite());
        assert!(
            (e.plaquette() - r).abs() < 1e-12,
            "β {beta}: {} vs {r}",
            e.plaquette()
        );
        assert!((e.wilson_loop(4) - r.powi(4)).abs() < 1e-12);
        let chi = e.chi_t_infinite_volume();
        assert!(
            (e.chi_t() - chi).abs() < 1e-10 * chi,
            "β {beta}: {} vs {chi}",
            e.chi_t()
        );
    }
    // The 1×1 loop is the plaquette, and a loop and its complement are the same loop.
    let e = U1Exact::new(3.0, 16).unwrap();
    assert!((e.wilson_loop(1) - e.plaquette()).abs() < 1e-14);
    assert!((e.wilson_loop(3) - e.wilson_loop(13)).abs() < 1e-14);
    assert!((e.wilson_loop(16) - 1.0).abs() < 1e-14);
}

/// Direct integration on a 2 × 2 lattice: 8 links, the maximal tree θ_1(0,0) = θ_0(0,0) =
/// θ_0(0,1) = 0 fixed (Haar measure is gauge invariant), the other 5 angles on a product
/// trapezoid rule of M points each (spectrally exact for these smooth periodic integrands).
#[test]
fn exact_results_match_direct_integration_on_2x2() {
    let lattice = Lattice::new(&[2, 2]).unwrap();
    let v = lattice.volume();
    let free = [
        lattice.index(&[1, 0]),     // θ_0(1, 0)
        lattice.index(&[1, 1]),     // θ_0(1, 1)
        v + lattice.index(&[0, 1]), // θ_1(0, 1)
        v + lattice.index(&[1, 0]), // θ_1(1, 0)
        v + lattice.index(&[1, 1]), // θ_1(1, 1)
    ];
    let m: usize = 20;
    let grid: Vec<f64> = (0..m)
        .map(|j| -PI + 2.0 * PI * j as f64 / m as f64)
        .collect();
    for beta in [0.7, 2.0] {
        let action = U1Wilson::new(lattice.clone(), beta).unwrap();
        let (mut z, mut plaq, mut loop1) = (0.0, 0.0, 0.0);
        let mut theta = vec![0.0; 2 * v];
        for idx in 0..m.pow(5) {
            let mut k = idx;
            for &l in &free {
                theta[l] = grid[k % m];
                k /= m;
            }
            let w = (-action.action(&theta)).exp();
            z += w;
            plaq += w * average_plaquette(&lattice, &theta);
            loop1 += w * rectangle_angle(&lattice, &theta, 0, (1, 1), (0, 1)).cos();
        }
        let norm = (m as f64).powi(5);
        let exact = U1Exact::new(beta, v).unwrap();
        let log_z = (z / norm).ln();
        assert!(
            (log_z - exact.log_z()).abs() < 1e-10,
            "β {beta}: log Z {log_z} vs {}",
            exact.log_z()
        );
        assert!(
            (plaq / z - exact.plaquette()).abs() < 1e-10,
            "β {beta}: plaquette"
        );
        assert!(
            (loop1 / z - exact.wilson_loop(1)).abs() < 1e-10,
            "β {beta}: W(1×1)"
        );
    }
    // The charge of the 2 × 2 lattice is an integer for every link field.
    let theta = random_angles(2 * v, 9, PI);
    let q: f64 = (0..v)
        .map(|x| wrap_plaquette(plaquette_angle(&lattice, &theta, x, 0, 1)))
        .sum::<f64>()
        / (2.0 * PI);
    assert!((q - q.round()).abs() < 1e-12);
}
