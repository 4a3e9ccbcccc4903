//! Annealing a U(1) gauge field from the Haar measure (uniform link angles) to e^{−S}: SMC and
//! AIS give log Z of the normalised Haar measure, ln Σ_n I_n(β)^V (lft-action's `U1Exact`),
//! within 3 standard errors over passes, at L = 4 and 8, β = 2; the particles' plaquette is
//! the exact one.

use lft_action::{U1Exact, U1Wilson};
use lft_flow::{Prior, PriorSpec};
use lft_lattice::Lattice;
use lft_lattice::gauge::average_plaquette;
use lft_sample::anneal::{Resampling, Schedule, SmcSettings, smc_pass};
use lft_sample::{HmcParams, Integrator};
use lft_stats::normalized_weights;
use std::f64::consts::PI;

fn settings(particles: usize, temperatures: usize, resampling: Option<Resampling>) -> SmcSettings {
    SmcSettings {
        particles,
        schedule: Schedule::Linear {
            steps: temperatures,
        },
        resampling,
        ess_threshold: 0.5,
        hmc: HmcParams {
            step_size: 0.2,
            n_steps: 5,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.3,
        },
        trajectories: 2,
        step_knots: Vec::new(),
        target_acceptance: None,
    }
}

#[test]
fn smc_and_ais_give_the_exact_log_z_of_the_haar_measure() {
    for (l, particles, temperatures) in [(4, 128, 10), (8, 256, 20)] {
        let lattice = Lattice::new(&[l, l]).unwrap();
        let beta = 2.0;
        let action = U1Wilson::new(lattice.clone(), beta).unwrap();
        let prior = Prior::new(PriorSpec::Uniform, &lattice).unwrap();
        let exact = U1Exact::new(beta, l * l).unwrap();
        for (name, s) in [
            (
                "SMC",
                settings(particles, temperatures, Some(Resampling::Systematic)),
            ),
            ("AIS", settings(particles, 2 * temperatures, None)),
        ] {
            let passes: Vec<_> = (0..12)
                .map(|p| smc_pass(&prior, &action, &s, 9, p).unwrap())
                .collect();
            let z: Vec<f64> = passes.iter().map(|p| p.log_z).collect();
            let n = z.len() as f64;
            let mean = z.iter().sum::<f64>() / n;
            let se = (z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
            eprintln!(
                "{name} L = {l}: log Z = {mean:.4} ± {se:.4}, exact {:.4}",
                exact.log_z()
            );
            assert!(se > 0.0 && 3.0 * se < 0.5, "{name} L = {l}: error {se}");
            assert!(
                (mean - exact.log_z()).abs() < 3.0 * se,
                "{name} L = {l}: {mean} ± {se} against {}",
                exact.log_z()
            );
            // The weighted particles' plaquette, pooled over passes (each pass weighted by its
            // Ẑ), against the exact one; the angles stay in [−π, π).
            let mut values = Vec::new();
            let mut log_w = Vec::new();
            for p in &passes {
                let total = lft_stats::log_sum_exp(&p.log_weights);
                for (theta, lw) in p.particles.chunks_exact(2 * l * l).zip(&p.log_weights) {
                    assert!(theta.iter().all(|t| (-PI..PI).contains(t)));
                    values.push(average_plaquette(&lattice, theta));
                    log_w.push(lw - total + p.log_z);
                }
            }
            let w = normalized_weights(&log_w);
            let plaquette: f64 = values.iter().zip(&w).map(|(v, w)| v * w).sum();
            let per_pass: Vec<f64> = passes
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    let n = p.log_weights.len();
                    let w = normalized_weights(&p.log_weights);
                    values[k * n..(k + 1) * n]
                        .iter()
                        .zip(&w)
                        .map(|(v, w)| v * w)
                        .sum()
                })
                .collect();
            let m = per_pass.iter().sum::<f64>() / n;
            let spread =
                (per_pass.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
            assert!(
                (plaquette - exact.plaquette()).abs() < 4.0 * spread,
                "{name} L = {l}: plaquette {plaquette} ± {spread}, exact {}",
                exact.plaquette()
            );
        }
    }
}
