//! The plaquette-basis flow of 2D U(1) (lft-flow's `gauge_plaquette_basis`, its spline set to
//! the Wilson plaquette marginal, no training) drives exact samplers: independence Metropolis
//! reproduces the exact ⟨cos θ_P⟩, ⟨Q²⟩, W(1×1) and W(2×2) within 4 standard errors at L = 4,
//! β = 2 and 4, L = 8, β = 2, and at L = 16, β = 6, where HMC's charge freezes, with
//! τ_int(Q) ≤ 10 proposals (issue 37's goal); flow-HMC and HMC in the latent space through it
//! do the same at L = 4, β = 4.

use lft_action::{U1Exact, U1Wilson};
use lft_flow::{CircleSpec, CouplingSpec, Flow, FlowSpec, MaskOrder};
use lft_lattice::gauge::topological_charge;
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{FlowHmc, FlowImh, HmcChain, HmcParams, Integrator, PulledBack, Start};
use lft_stats::{GammaOptions, gamma_method};

mod common;
use common::gauge::{chain_series, check, observables};

/// The plaquette-basis flow (64 bins, no couplings) at β on an L × L lattice.
fn basis_flow(l: usize, beta: f64) -> Flow {
    let transform = CircleSpec::Ncp { components: 2 };
    let spec = FlowSpec {
        coupling: CouplingSpec::Gauge {
            transform,
            loops: false,
            masks: MaskOrder::Descending,
            plaquette_basis: Some(64),
        },
        ..FlowSpec::gauge(0, vec![8], transform, false)
    };
    let mut flow = Flow::new(Lattice::new(&[l, l]).unwrap(), &spec, 1).unwrap();
    let kl = spec.init_plaquette_basis(beta, flow.params_mut()).unwrap();
    assert!(kl < 1e-5, "KL per plaquette {kl}");
    flow
}

#[test]
fn plaquette_basis_imh_samples_the_exact_distribution_and_unfreezes_q() {
    for (l, beta) in [(4, 2.0), (4, 4.0), (8, 2.0), (16, 6.0)] {
        let lattice = Lattice::new(&[l, l]).unwrap();
        let action = U1Wilson::new(lattice.clone(), beta).unwrap();
        let flow = basis_flow(l, beta);
        let n = 2 * l * l;
        let (mut series, mut charges) = (Vec::new(), Vec::new());
        for c in 0..4 {
            let mut chain = FlowImh::new(&flow, &action, 256, stream_rng(11, c));
            let (configs, _) = chain.run(20_000).unwrap();
            let theta = configs.chunks_exact(n);
            series.push(theta.clone().map(|t| observables(&lattice, t)).collect());
            charges.push(
                theta
                    .map(|t| topological_charge(&lattice, t))
                    .collect::<Vec<f64>>(),
            );
        }
        let what = format!("plaquette-basis IMH L = {l}, β = {beta}");
        check(&what, &series, &U1Exact::new(beta, l * l).unwrap());
        let replicas: Vec<&[f64]> = charges.iter().map(Vec::as_slice).collect();
        let q = gamma_method(&[replicas], &|m| m[0], GammaOptions::default()).unwrap();
        eprintln!("{what}: τ_int(Q) {:.2} ± {:.2}", q.tau_int, q.tau_int_error);
        assert!(q.tau_int <= 10.0, "{what}: τ_int(Q) = {}", q.tau_int);
    }
}

#[test]
fn flow_hmc_and_latent_hmc_through_the_plaquette_basis_are_exact() {
    let (l, beta) = (4, 4.0);
    let lattice = Lattice::new(&[l, l]).unwrap();
    let action = U1Wilson::new(lattice.clone(), beta).unwrap();
    let flow = basis_flow(l, beta);
    let exact = U1Exact::new(beta, l * l).unwrap();
    let params = HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Leapfrog,
        length_jitter: 0.2,
    };
    let series = chain_series(4, 20, 5_000, &|c| {
        let hmc = HmcChain::new(&action, Start::Hot, stream_rng(12, c), params);
        let mut chain = FlowHmc::new(&flow, &action, hmc, 1);
        let lattice = &lattice;
        Box::new(move || {
            chain.step().unwrap();
            observables(lattice, chain.field())
        })
    });
    check(&format!("flow-HMC L = {l}, β = {beta}"), &series, &exact);
    let pulled = PulledBack {
        flow: &flow,
        action: &action,
    };
    let latent = HmcParams {
        step_size: 0.2,
        n_steps: 5,
        ..params
    };
    let series = chain_series(4, 50, 4_000, &|c| {
        let mut chain = HmcChain::new(&pulled, Start::Hot, stream_rng(13, c), latent);
        let (pulled, lattice) = (&pulled, &lattice);
        Box::new(move || {
            chain.trajectory(pulled);
            observables(lattice, &pulled.map_and_action(chain.field()).0)
        })
    });
    check(&format!("latent HMC L = {l}, β = {beta}"), &series, &exact);
}
