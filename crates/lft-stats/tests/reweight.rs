//! MBAR and single-histogram reweighting on exactly solvable Gaussians: S_c(x) = c Σ_i x_i²
//! in D dimensions, so A = Σ_i x_i², log Z(c) = (D/2) log(π/c) and ⟨A⟩_c = D/(2c). Samples are
//! independent exact draws, x_i ~ N(0, 1/(2c)).

use lft_lattice::{gaussian_fill, stream_rng};
use lft_stats::{LinearFamily, Mbar, Reweighter};

const D: usize = 16;

fn log_z(c: f64) -> f64 {
    0.5 * D as f64 * (std::f64::consts::PI / c).ln()
}

/// A = Σ x² of `n` exact draws at coupling c.
fn draws(c: f64, n: usize, seed: u64, stream: u64) -> Vec<f64> {
    let mut rng = stream_rng(seed, stream);
    let mut x = vec![0.0; D];
    (0..n)
        .map(|_| {
            gaussian_fill(&mut rng, &mut x);
            x.iter().map(|g| g * g).sum::<f64>() / (2.0 * c)
        })
        .collect()
}

fn family(couplings: &[f64], n: usize, seed: u64) -> LinearFamily {
    LinearFamily {
        couplings: couplings.to_vec(),
        conjugate: couplings
            .iter()
            .enumerate()
            .map(|(k, &c)| draws(c, n, seed, k as u64))
            .collect(),
    }
}

fn mean_a(r: &Reweighter, f: &LinearFamily, c: f64) -> lft_stats::Reweighted {
    let pooled = r.pool(&f.conjugate).unwrap();
    r.estimate(c, &[&pooled], |_, m| m[0]).unwrap()
}

#[test]
fn single_histogram_reweighting_reaches_a_nearby_coupling() {
    let f = family(&[1.0], 20_000, 11);
    let r = Reweighter::new(f.clone(), 20).unwrap();
    let est = mean_a(&r, &f, 1.1);
    let exact = D as f64 / 2.2;
    assert!(
        (est.value - exact).abs() < 4.0 * est.error,
        "⟨A⟩(1.1) = {} ± {}, exact {exact}",
        est.value,
        est.error
    );
    let dz = r.log_z_difference(1.1);
    let exact_dz = log_z(1.1) - log_z(1.0);
    assert!(
        (dz.value - exact_dz).abs() < 4.0 * dz.error,
        "Δlog Z = {} ± {}, exact {exact_dz}",
        dz.value,
        dz.error
    );
    // The overlap shrinks away from the simulated coupling.
    assert!(dz.ess < 20_000.0 && r.log_z_difference(1.5).ess < dz.ess);
    // At the simulated coupling the weights are equal and the estimate is the plain mean.
    let at = mean_a(&r, &f, 1.0);
    let plain = f.conjugate[0].iter().sum::<f64>() / 20_000.0;
    assert!((at.value - plain).abs() < 1e-10 && (at.ess - 20_000.0).abs() < 1e-6);
}

#[test]
fn mbar_gives_the_exact_free_energies_and_observables_between_the_points() {
    let couplings = [1.0, 1.2, 1.4];
    let f = family(&couplings, 8000, 3);
    let r = Reweighter::new(f.clone(), 20).unwrap();
    for &c in &[1.2, 1.4, 1.1, 1.3] {
        let dz = r.log_z_difference(c);
        let exact = log_z(c) - log_z(1.0);
        assert!(
            (dz.value - exact).abs() < 4.0 * dz.error && dz.error < 0.05,
            "c = {c}: Δlog Z = {} ± {}, exact {exact}",
            dz.value,
            dz.error
        );
        let a = mean_a(&r, &f, c);
        let exact = D as f64 / (2.0 * c);
        assert!(
            (a.value - exact).abs() < 4.0 * a.error,
            "c = {c}: ⟨A⟩ = {} ± {}, exact {exact}",
            a.value,
            a.error
        );
    }
}

/// The jackknife errors are the spread of the estimates: over independent repetitions, the
/// pulls (estimate − exact)/error have a root mean square near 1.
#[test]
fn reweighting_errors_match_the_spread_of_repetitions() {
    let couplings = [1.0, 1.3];
    let repeats = 40;
    let (mut sum_dz, mut sum_a) = (0.0, 0.0);
    for seed in 0..repeats {
        let f = family(&couplings, 1500, 100 + seed);
        let r = Reweighter::new(f.clone(), 15).unwrap();
        let dz = r.log_z_difference(1.15);
        sum_dz += ((dz.value - (log_z(1.15) - log_z(1.0))) / dz.error).powi(2);
        let a = mean_a(&r, &f, 1.15);
        sum_a += ((a.value - D as f64 / 2.3) / a.error).powi(2);
    }
    for (name, sum) in [("Δlog Z", sum_dz), ("⟨A⟩", sum_a)] {
        let rms = (sum / repeats as f64).sqrt();
        eprintln!("{name}: rms pull {rms}");
        assert!((0.6..1.5).contains(&rms), "{name}: rms pull {rms}");
    }
}

/// The solution satisfies the MBAR equations it was derived from, and a warm start from it
/// stays there.
#[test]
fn mbar_solves_its_self_consistency_equations() {
    let couplings = [0.8, 1.0, 1.25, 1.6];
    let f = family(&couplings, 3000, 7);
    let pooled = f.conjugate.concat();
    let counts = vec![3000; 4];
    let m = Mbar::solve(&counts, &couplings, pooled.clone(), None).unwrap();
    let fe = m.free_energies().to_vec();
    assert_eq!(fe[0], 0.0);
    for (i, &c) in couplings.iter().enumerate() {
        let fi = -lft_stats::log_sum_exp(&m.log_weights(c));
        assert!((fi - fe[i]).abs() < 1e-8, "f_{i}: {fi} vs {}", fe[i]);
    }
    let again = Mbar::solve(&counts, &couplings, pooled, Some(&fe)).unwrap();
    for (a, b) in again.free_energies().iter().zip(&fe) {
        assert!((a - b).abs() < 1e-12);
    }
}

#[test]
fn bad_input_is_refused() {
    let f = family(&[1.0], 10, 1);
    assert!(Reweighter::new(f.clone(), 20).is_err());
    assert!(Reweighter::new(f, 1).is_err());
    assert!(Mbar::solve(&[2], &[1.0], vec![0.0, f64::NAN], None).is_err());
    assert!(Mbar::solve(&[2, 2], &[1.0, 2.0], vec![0.0; 3], None).is_err());
    assert!(Mbar::solve(&[2, 0], &[1.0, 2.0], vec![0.0; 2], None).is_err());
}
