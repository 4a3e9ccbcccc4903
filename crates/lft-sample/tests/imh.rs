//! Independence Metropolis with flow proposals is exact: on the free field it reproduces
//! χ₂ = 1/(2m²) and ⟨φ²⟩ = G(0), and on a tiny φ⁴ lattice it agrees with HMC.

use lft_action::{Action, FreeField, Phi4, Phi4Params};
use lft_flow::{
    Activation, CouplingSpec, Flow, FlowSample, FlowSpec, Precision, Prior, PriorSpec, Proposal,
};
use lft_lattice::{Lattice, Pcg64, stream_rng};
use lft_sample::{
    FlowHmc, FlowImh, FlowReweight, HmcChain, HmcParams, Integrator, InverseCheck, MemoryStore,
    SamplerKind, Start, run_production, thermalize_all,
};
use lft_stats::estimate_mean;
use std::time::Duration;

mod common;
use common::trained_flow;

/// (M²/V, |M|/V, φ²) of each configuration.
fn series(configs: &[f64], v: usize) -> [Vec<f64>; 3] {
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for phi in configs.chunks_exact(v) {
        let m: f64 = phi.iter().sum();
        out[0].push(m * m / v as f64);
        out[1].push(m.abs() / v as f64);
        out[2].push(phi.iter().map(|x| x * x).sum::<f64>() / v as f64);
    }
    out
}

#[test]
fn flow_imh_reproduces_the_free_field() {
    let (lat, m2) = (Lattice::new(&[4, 4]).unwrap(), 1.0);
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let flow = trained_flow(&action, 400, 1);
    let mut chain = FlowImh::new(&flow, &action, 256, stream_rng(2, 0));
    let (configs, records) = chain.run(20_000).unwrap();
    let acceptance = records.iter().filter(|r| r.accepted).count() as f64 / records.len() as f64;
    assert!(acceptance > 0.5, "acceptance {acceptance}");
    let exact = FreeField::new(lat, m2).unwrap();
    let [chi2, _, phi2] = series(&configs, 16);
    for (name, s, truth) in [("chi2", &chi2, exact.chi2()), ("phi2", &phi2, exact.phi2())] {
        let e = estimate_mean(&[s]).unwrap();
        assert!(
            (e.value - truth).abs() < 4.0 * e.error,
            "{name}: {e:?} vs exact {truth}"
        );
    }
    // Records describe the current configuration.
    for (phi, r) in configs.chunks_exact(16).zip(&records).take(50) {
        assert!((action.action(phi) - r.action).abs() < 1e-9);
        assert!((r.log_weight + r.action + r.log_q).abs() < 1e-12);
    }
}

/// A flow with float32 conditioners, trained and sampled in float32, drives an exact chain:
/// χ₂ and ⟨φ²⟩ of the free field within 4σ, with the float64 flow's acceptance to within
/// 0.05 (the same architecture, seed and training).
#[test]
fn float32_flow_imh_reproduces_the_free_field() {
    let (lat, m2) = (Lattice::new(&[4, 4]).unwrap(), 1.0);
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let exact = FreeField::new(lat, m2).unwrap();
    let mut acceptances = Vec::new();
    for precision in [Precision::F64, Precision::F32] {
        let flow = common::trained_flow_in(&action, 400, 1, precision);
        let mut chain = FlowImh::new(&flow, &action, 256, stream_rng(3, 0));
        let (configs, records) = chain.run(20_000).unwrap();
        let accepted = records.iter().filter(|r| r.accepted).count();
        acceptances.push(accepted as f64 / records.len() as f64);
        let [chi2, _, phi2] = series(&configs, 16);
        for (name, s, truth) in [("chi2", &chi2, exact.chi2()), ("phi2", &phi2, exact.phi2())] {
            let e = estimate_mean(&[s]).unwrap();
            assert!(
                (e.value - truth).abs() < 4.0 * e.error,
                "{precision}: {name}: {e:?} vs exact {truth}"
            );
        }
    }
    assert!(acceptances[0] > 0.5, "acceptance {acceptances:?}");
    assert!(
        (acceptances[0] - acceptances[1]).abs() < 0.05,
        "acceptance {acceptances:?}"
    );
}

/// A free field of mass² `m2` sampled exactly (a flow's prior, used alone): a proposal that
/// is not a flow.
struct FreeFieldProposal {
    prior: Prior,
    volume: usize,
}

impl Proposal for FreeFieldProposal {
    fn volume(&self) -> usize {
        self.volume
    }

    fn draw(&self, n: usize, rng: &mut Pcg64) -> FlowSample {
        let mut phi = vec![0.0; n * self.volume];
        for p in phi.chunks_exact_mut(self.volume) {
            self.prior.sample(rng, p);
        }
        let log_q = self.log_q(&phi);
        FlowSample {
            phi,
            log_q,
            latent: Vec::new(),
        }
    }

    fn log_q(&self, phis: &[f64]) -> Vec<f64> {
        phis.chunks_exact(self.volume)
            .map(|phi| self.prior.log_prob(phi))
            .collect()
    }
}

/// The samplers take any [`Proposal`]: independence Metropolis with proposals from a free
/// field of a smaller mass (wider in every mode, so the weights e^{−S}/q are bounded) is exact
/// on the free field.
#[test]
fn any_proposal_drives_independence_metropolis() {
    let (lat, m2) = (Lattice::new(&[4, 4]).unwrap(), 1.0);
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let proposal = FreeFieldProposal {
        prior: Prior::new(PriorSpec::FreeField { m2: 0.7 * m2 }, &lat).unwrap(),
        volume: lat.volume(),
    };
    let exact = FreeField::new(lat, m2).unwrap();
    let mut chain = FlowImh::new(&proposal, &action, 256, stream_rng(5, 0));
    let (configs, records) = chain.run(20_000).unwrap();
    let acceptance = records.iter().filter(|r| r.accepted).count() as f64 / records.len() as f64;
    assert!(
        acceptance > 0.05 && acceptance < 0.99,
        "acceptance {acceptance}"
    );
    let [chi2, _, phi2] = series(&configs, 16);
    for (name, s, truth) in [("chi2", &chi2, exact.chi2()), ("phi2", &phi2, exact.phi2())] {
        let e = estimate_mean(&[s]).unwrap();
        assert!(
            (e.value - truth).abs() < 4.0 * e.error,
            "{name}: {e:?} vs exact {truth}"
        );
    }
}

#[test]
fn exact_prior_is_always_accepted() {
    let (lat, m2) = (Lattice::new(&[4, 4]).unwrap(), 0.5);
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let spec = FlowSpec {
        layers: 0,
        hidden: vec![],
        kernel: 3,
        activation: Activation::Identity,
        final_activation: Activation::Identity,
        equivariant: false,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::FreeField { m2 },
        spectral: false,
        precision: lft_flow::Precision::F64,
    };
    let flow = Flow::new(lat, &spec, 1).unwrap();
    let (_, records) = FlowImh::new(&flow, &action, 100, stream_rng(3, 0))
        .run(1000)
        .unwrap();
    assert!(records.iter().all(|r| r.accepted));
}

/// 4×4 φ⁴ at m² = −1, λ = 1: flow-IMH, flow-HMC and HMC give the same ⟨M²⟩/V, ⟨|M|⟩/V and
/// ⟨φ²⟩ within 4 combined standard errors.
#[test]
fn flow_samplers_agree_with_hmc_on_a_tiny_phi4_lattice() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = Phi4::new(
        lat,
        Phi4Params {
            m2: -1.0,
            lambda: 1.0,
        },
    )
    .unwrap();
    let flow = trained_flow(&action, 400, 5);
    let (imh_configs, records) = FlowImh::new(&flow, &action, 256, stream_rng(6, 0))
        .run(30_000)
        .unwrap();
    let acceptance = records.iter().filter(|r| r.accepted).count() as f64 / records.len() as f64;
    assert!(acceptance > 0.3, "acceptance {acceptance}");

    let params = HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Omelyan,
        length_jitter: 0.5,
    };
    let mut chains: Vec<HmcChain> = (0..2)
        .map(|c| HmcChain::new(&action, Start::Cold, stream_rng(7, c), params))
        .collect();
    thermalize_all(&mut chains, &action, 200, None);
    let mut sink = MemoryStore::sink(SamplerKind::Hmc, action.lattice().volume(), 2);
    run_production(
        &mut chains,
        &action,
        &[15_000, 15_000],
        &mut sink,
        Duration::from_secs(1),
        &mut (),
    )
    .unwrap();

    // Flow-HMC with a barely trained flow (20 steps): the HMC part carries it.
    let weak = trained_flow(&action, 20, 8);
    let start = HmcChain::new(&action, Start::Cold, stream_rng(9, 0), params);
    let mut fh = FlowHmc::new(&weak, &action, start, 1);
    let mut fh_configs = Vec::new();
    let mut flow_acc = 0;
    for _ in 0..15_000 {
        flow_acc += usize::from(fh.step().unwrap().flow_accepted);
        fh_configs.extend_from_slice(fh.field());
    }
    assert!(flow_acc > 0, "some flow proposals should be accepted");

    let imh = series(&imh_configs, 16);
    let flow_hmc = series(&fh_configs, 16);
    let hmc: Vec<[Vec<f64>; 3]> = (0..2).map(|c| series(sink.configs(c), 16)).collect();
    for (k, name) in ["M^2/V", "|M|/V", "phi^2"].iter().enumerate() {
        let a = estimate_mean(&[&imh[k]]).unwrap();
        let b = estimate_mean(&[&hmc[0][k], &hmc[1][k]]).unwrap();
        let combined = (a.error.powi(2) + b.error.powi(2)).sqrt();
        assert!(
            (a.value - b.value).abs() < 4.0 * combined,
            "{name}: IMH {a:?} vs HMC {b:?}"
        );
        let c = estimate_mean(&[&flow_hmc[k]]).unwrap();
        let combined = (c.error.powi(2) + b.error.powi(2)).sqrt();
        assert!(
            (c.value - b.value).abs() < 4.0 * combined,
            "{name}: flow-HMC {c:?} vs HMC {b:?}"
        );
    }
}

/// A flow whose inverse loses most digits: one affine coupling with t = 10¹² on the active
/// sites (a single linear convolution, all weights zero, the t bias 10¹²).
fn ill_conditioned_flow(lattice: &Lattice) -> Flow {
    let spec = FlowSpec {
        layers: 1,
        hidden: vec![],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Identity,
        equivariant: false,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision: lft_flow::Precision::F64,
    };
    let mut flow = Flow::new(lattice.clone(), &spec, 1).unwrap();
    let n = flow.n_params();
    flow.params_mut().iter_mut().for_each(|p| *p = 0.0);
    flow.params_mut()[n - 1] = 1e12;
    flow
}

#[test]
fn flow_samplers_stop_on_a_proposal_that_fails_its_round_trip() {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let action = Phi4::new(
        lattice.clone(),
        Phi4Params {
            m2: -1.0,
            lambda: 1.0,
        },
    )
    .unwrap();
    let bad = ill_conditioned_flow(&lattice);
    let err = FlowImh::new(&bad, &action, 16, stream_rng(1, 0))
        .run(32)
        .unwrap_err();
    assert!(err.round_trip.latent_error > 1e-6, "{err:?}");
    assert!(err.to_string().contains("numerically unstable"), "{err}");
    let mut reweight = FlowReweight::new(&bad, &action, 16, stream_rng(1, 0));
    assert!(reweight.draw(16).is_err());
    let params = HmcParams {
        step_size: 0.1,
        n_steps: 5,
        integrator: Integrator::Leapfrog,
        length_jitter: 0.0,
    };
    let start = HmcChain::new(&action, Start::Cold, stream_rng(2, 0), params);
    assert!(FlowHmc::new(&bad, &action, start, 1).step().is_err());
    // With the check off the chain runs (and would store wrong weights).
    let off = InverseCheck {
        per_batch: 0,
        ..InverseCheck::default()
    };
    let (_, records) = FlowImh::new(&bad, &action, 16, stream_rng(1, 0))
        .with_inverse_check(off)
        .run(32)
        .unwrap();
    assert_eq!(records.len(), 32);
}
