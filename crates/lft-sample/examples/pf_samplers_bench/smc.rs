//! The bench's SMC row: annealing on the joint (φ, ϕ) target.

use lft_action::{Action, JointAction, PseudofermionCg, Yukawa};
use lft_flow::PriorSpec;
use lft_sample::{HmcParams, Integrator};
use std::time::Instant;

/// SMC on the joint (φ, ϕ) target: `passes` passes of `particles`, adaptive (conditional ESS
/// 0.5), two HMC trajectories of 10 leapfrog steps per temperature; one row like [`report`]'s,
/// with τ_int replaced by the passes' effective sample count.
pub fn smc_row(
    model: &Yukawa,
    cg: PseudofermionCg,
    prior: PriorSpec,
    passes: u64,
    particles: usize,
) {
    use lft_action::YukawaJoint;
    use lft_flow::Prior;
    use lft_sample::anneal::{Resampling, Schedule as Betas, SmcSettings, smc_pass};
    use lft_stats::normalized_weights;
    let v = model.phi4().lattice().volume();
    let joint = YukawaJoint::new(model.clone(), cg);
    let mixture = matches!(prior, PriorSpec::Z2Mixture { .. });
    let prior = Prior::new(prior, joint.lattice()).unwrap();
    let settings = SmcSettings {
        particles,
        schedule: Betas::Adaptive { target: 0.5 },
        resampling: Some(Resampling::Systematic),
        ess_threshold: 0.5,
        hmc: HmcParams {
            step_size: 0.1,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.5,
        },
        // From the mixture, two trajectories per temperature let passes collapse onto one
        // vacuum (tests/anneal_joint.rs); four hold both.
        trajectories: if mixture { 4 } else { 2 },
        step_knots: vec![(0.0, 0.15), (0.3, 0.08), (1.0, 0.05)],
        target_acceptance: Some(0.7),
    };
    let t = Instant::now();
    let runs: Vec<_> = (0..passes)
        .map(|p| smc_pass(&prior, &joint, &settings, 41, p).expect("an SMC pass"))
        .collect();
    let seconds = t.elapsed().as_secs_f64();
    // Per pass: weighted means of |M|/V and M²/V, and of their squares.
    let moments: Vec<[f64; 4]> = runs
        .iter()
        .map(|run| {
            let w = normalized_weights(&run.log_weights);
            let mut m = [0.0; 4];
            for (x, wi) in run.particles.chunks_exact(3 * v).zip(&w) {
                let total: f64 = x[..v].iter().sum();
                let (a, b) = (total.abs() / v as f64, total * total / v as f64);
                m[0] += wi * a;
                m[1] += wi * b;
                m[2] += wi * a * a;
                m[3] += wi * b * b;
            }
            m
        })
        .collect();
    let p = passes as f64;
    let mean = |k: usize| moments.iter().map(|m| m[k]).sum::<f64>() / p;
    let scatter = |k: usize| {
        let mu = mean(k);
        moments.iter().map(|m| (m[k] - mu).powi(2)).sum::<f64>() / (p - 1.0)
    };
    // Effective samples of each observable: σ² / Var(overall mean).
    let effective = |k: usize| (mean(k + 2) - mean(k).powi(2)) / (scatter(k) / p);
    let ess = effective(0).min(effective(1));
    let temperatures: usize = runs.iter().map(|r| r.temperatures.len()).sum();
    let acceptance = runs
        .iter()
        .flat_map(|r| &r.temperatures)
        .map(|t| t.acceptance)
        .sum::<f64>()
        / temperatures as f64;
    let (solves, iterations) = joint.cg_counts();
    println!(
        "| joint SMC ({passes} passes × {particles}, {:.0} temperatures) | {} | {seconds:.1} s | {acceptance:.3} | {:.4}({:.0}) | {:.3}({:.0}) | ESS {:.0} / {:.0} | {:.2} ms |",
        temperatures as f64 / p,
        passes as usize * particles,
        mean(0),
        (scatter(0) / p).sqrt() * 1e4,
        mean(1),
        (scatter(1) / p).sqrt() * 1e3,
        effective(0),
        effective(1),
        1e3 * seconds / ess
    );
    println!(
        "joint SMC: {solves} CG solves, {:.0} iterations each, {} stagnated, {} particles of zero weight",
        iterations as f64 / solves.max(1) as f64,
        joint.stagnated_solves(),
        runs.iter()
            .flat_map(|r| &r.temperatures)
            .map(|t| t.zero_weight)
            .sum::<usize>()
    );
}
