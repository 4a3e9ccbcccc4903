//! What multi-timescale molecular dynamics buys pseudofermion HMC of the Schwinger model: from
//! equilibrium configurations of pseudofermion HMC, one trajectory of length 1 per
//! configuration and setting, ⟨ΔH⟩ and the acceptance ⟨min(1, e^{−ΔH})⟩ for each integrator,
//! number of (pseudofermion-force) steps n and inner gauge steps, with the same pseudofermion
//! and momenta for every setting.
//!
//!   cargo run --release -p lft-sample --example schwinger_timescales -- L BETA MASS [CONFIGS]
//!
//! docs/PERFORMANCE.md ("The Schwinger model", second session) has the table at L = 16, β = 6,
//! m = 0.1.

use lft_action::{Action, PseudofermionAction, PseudofermionCg, Schwinger, SchwingerPseudofermion};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};
use lft_sample::{
    HmcParams, Integrate, Integrator, MarkovChain, PseudofermionHmc, Start, integrate_nested,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: f64| args.get(i).map_or(default, |a| a.parse().unwrap());
    let (l, beta, mass) = (arg(0, 16.0) as usize, arg(1, 6.0), arg(2, 0.1));
    let configs = arg(3, 20.0) as usize;
    let model = Schwinger::new(Lattice::new(&[l, l]).unwrap(), beta, mass).unwrap();
    let action = SchwingerPseudofermion::new(model, PseudofermionCg::default()).unwrap();
    let params = |step_size: f64, n_steps: usize| HmcParams {
        step_size,
        n_steps,
        integrator: Integrator::Omelyan,
        length_jitter: 0.2,
    };
    let mut chain = PseudofermionHmc::with_action(
        action.fresh(),
        Start::Hot,
        stream_rng(1, 0),
        params(0.05, 20),
    );
    for _ in 0..100 {
        chain.trajectory().unwrap();
    }
    chain.set_params(params(0.2, 5));
    for _ in 0..200 {
        chain.trajectory().unwrap();
    }
    let mut states = Vec::new();
    for _ in 0..configs {
        for _ in 0..10 {
            chain.trajectory().unwrap();
        }
        states.push(chain.field().to_vec());
    }
    println!("L = {l}, beta = {beta}, m = {mass}: {configs} configurations, trajectory length 1");
    println!("integrator  steps  inner  <dH>       acceptance  fermion forces per trajectory");
    for integrator in [Integrator::Leapfrog, Integrator::Omelyan] {
        for n in [2usize, 3, 4, 5, 6, 8, 10] {
            for inner in [1usize, 2, 4] {
                let (mut dh_sum, mut acc_sum) = (0.0, 0.0);
                for (k, theta) in states.iter().enumerate() {
                    let mut rng = stream_rng(2, k as u64);
                    action.refresh(theta, &mut rng).unwrap();
                    let mut pi = vec![0.0; theta.len()];
                    gaussian_fill(&mut rng, &mut pi);
                    let mut x = theta.clone();
                    let mut grad = vec![0.0; x.len()];
                    action.gradient(&x, &mut grad);
                    let kinetic = |pi: &[f64]| pi.iter().map(|p| p * p).sum::<f64>() / 2.0;
                    let h0 = action.action(&x) + kinetic(&pi);
                    let eps = 1.0 / n as f64;
                    if inner == 1 {
                        integrator.integrate(&action, &mut x, &mut pi, &mut grad, eps, n);
                    } else {
                        integrate_nested(
                            integrator, &action, &mut x, &mut pi, &mut grad, eps, n, inner,
                        );
                    }
                    let dh = action.action(&x) + kinetic(&pi) - h0;
                    dh_sum += dh;
                    acc_sum += (-dh).exp().min(1.0);
                }
                let forces = match integrator {
                    Integrator::Leapfrog => n,
                    Integrator::Omelyan => 2 * n,
                };
                println!(
                    "{:<10}  {n:>5}  {inner:>5}  {:>9.4}  {:>10.3}  {forces}",
                    format!("{integrator:?}"),
                    dh_sum / configs as f64,
                    acc_sum / configs as f64
                );
            }
        }
    }
}
