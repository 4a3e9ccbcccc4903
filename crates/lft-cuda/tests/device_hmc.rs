//! The device HMC of many chains against the CPU: every trajectory of every chain equals
//! lft-sample's `HmcChain` given the same momenta, length and uniform (the chain's Philox
//! stream, computed on the host) to 1e-10 — chains of different step sizes, integrators and
//! jittered lengths in one batch, chains that sit a segment out, tempered annealing targets —
//! and the pipeline stores what the chains' host twins compute, resuming exactly. Each test
//! runs on the host emulator and, where there is one, on a GPU.

mod common;
use common::{Backend, assert_close, normals, rng};
use lft_action::{Action, Phi4, Phi4Params};
use lft_cuda::ops::phi4::{PriorTerm, TemperedTarget};
use lft_cuda::philox::ChainStream;
use lft_cuda::{DeviceChain, DeviceHmcSampler, Executor, HmcDevice, SegmentChain};
use lft_flow::Prior;
use lft_flow::prior::PriorSpec;
use lft_lattice::{Lattice, stream_rng};
use lft_records::Integrator;
use lft_sample::anneal::Tempered;
use lft_sample::{
    Chain, ChainRound, HmcChain, HmcParams, HmcRecord, MemoryStore, RoundLimits, RunPlan,
    RunSummary, Sampler, Start, jittered_steps, run,
};
use std::time::Duration;

const COUPLINGS: Phi4Params = Phi4Params {
    m2: -1.2,
    lambda: 0.9,
};

fn params(step_size: f64, n_steps: usize, integrator: Integrator, jitter: f64) -> HmcParams {
    HmcParams {
        step_size,
        n_steps,
        integrator,
        length_jitter: jitter,
    }
}

/// Chains of every kind in one batch: both integrators, small and large steps (so that some
/// trajectories are rejected), fixed and jittered lengths.
fn mixed_params() -> Vec<HmcParams> {
    vec![
        params(0.2, 5, Integrator::Leapfrog, 0.0),
        params(0.45, 3, Integrator::Omelyan, 0.0),
        params(0.3, 4, Integrator::Leapfrog, 0.5),
        params(0.6, 4, Integrator::Leapfrog, 0.0),
        params(0.25, 6, Integrator::Omelyan, 0.4),
        params(0.5, 2, Integrator::Leapfrog, 0.9),
    ]
}

/// The CPU's trajectory `t` of a chain with `stream`: lft-sample's HmcChain with the
/// stream's momenta, length and uniform injected.
fn cpu_trajectory(
    chain: &mut HmcChain,
    action: &dyn Action,
    stream: ChainStream,
    t: u64,
) -> HmcRecord {
    let mut momenta = vec![0.0; chain.field().len()];
    stream.momenta(t, &mut momenta);
    let steps = jittered_steps(&chain.params(), stream.length_uniform(t));
    chain.trajectory_with(action, &momenta, steps, stream.accept_uniform(t))
}

fn assert_record(what: &str, got: &HmcRecord, want: &HmcRecord, tol: f64, action_offset: f64) {
    assert_eq!(got.n_steps, want.n_steps, "{what}: steps");
    assert_eq!(got.accepted, want.accepted, "{what}: accepted");
    assert_close(&format!("{what}: ΔH"), &[got.delta_h], &[want.delta_h], tol);
    assert_close(
        &format!("{what}: S"),
        &[got.action + action_offset],
        &[want.action],
        tol,
    );
}

/// Runs `segments` (each: trajectories per chain) on the device and on CPU chains of `cpu`,
/// comparing every record and the fields after every segment.
#[allow(clippy::too_many_arguments)]
fn compare_segments<E: Executor>(
    what: &str,
    device: &mut HmcDevice<E>,
    cpu: &dyn Action,
    action_offset: f64,
    chains: &mut [HmcChain],
    streams: &[ChainStream],
    counters: &mut [u64],
    segments: &[Vec<usize>],
    tol: f64,
) -> [usize; 2] {
    let v = device.volume();
    let mut seen = [0; 2];
    for (s, plan) in segments.iter().enumerate() {
        let segment: Vec<SegmentChain> = (0..chains.len())
            .map(|b| SegmentChain {
                stream: streams[b],
                counter: counters[b],
                params: chains[b].params(),
                trajectories: plan[b],
            })
            .collect();
        let records = device.segment(&segment).unwrap();
        for (b, chain) in chains.iter_mut().enumerate() {
            for (j, trajectory) in records.iter().enumerate() {
                let got = trajectory[b];
                if j >= plan[b] {
                    assert!(got.is_none(), "{what}: chain {b} ran past its plan");
                    continue;
                }
                let want = cpu_trajectory(chain, cpu, streams[b], counters[b]);
                counters[b] += 1;
                let got = got.expect("a planned trajectory ran");
                let label = format!("{what}: segment {s}, trajectory {j}, chain {b}");
                assert_record(&label, &got, &want, tol, action_offset);
                seen[usize::from(want.accepted)] += 1;
            }
        }
        let fields = device.read_fields().unwrap();
        for (b, chain) in chains.iter().enumerate() {
            assert_close(
                &format!("{what}: segment {s}, chain {b} φ"),
                &fields[b * v..(b + 1) * v],
                chain.field(),
                tol,
            );
        }
    }
    seen
}

fn segments_match<E: Executor>(backend: Backend, exec: E) {
    // An odd volume: the last pair of momenta is half used.
    let lattice = Lattice::new(&[5, 3]).unwrap();
    let phi4 = Phi4::new(lattice.clone(), COUPLINGS).unwrap();
    let p = mixed_params();
    let (n, v) = (p.len(), lattice.volume());
    let start = normals(&mut rng(30), n * v, 0.8);
    let mut device = HmcDevice::new(exec, &lattice, COUPLINGS, n).unwrap();
    device.write_fields(&start).unwrap();
    let mut chains: Vec<HmcChain> = (0..n)
        .map(|b| {
            HmcChain::resume(
                &phi4,
                start[b * v..(b + 1) * v].to_vec(),
                stream_rng(0, 0),
                p[b],
            )
        })
        .collect();
    let streams: Vec<ChainStream> = (0..n)
        .map(|b| ChainStream::new(11, 40 + b as u64))
        .collect();
    let mut counters = vec![0, 3, 7, 0, 1 << 33, 12];
    // Trajectory by trajectory, then segments in which chains run different numbers of
    // trajectories (some none).
    let mut segments = vec![vec![1; n]; 4];
    segments.push(vec![3, 0, 2, 3, 1, 3]);
    segments.push(vec![0, 4, 4, 1, 0, 2]);
    let seen = compare_segments(
        &format!("{backend:?}"),
        &mut device,
        &phi4,
        0.0,
        &mut chains,
        &streams,
        &mut counters,
        &segments,
        1e-10,
    );
    assert!(seen[0] > 0 && seen[1] > 0, "accepted/rejected: {seen:?}");
}

/// Trajectory by trajectory and segment by segment, the device's chains are the CPU's
/// HmcChain with the same draws, to 1e-10.
#[test]
fn device_trajectories_match_the_cpu_chain_with_the_same_draws() {
    on_every_backend!("device trajectories", segments_match);
}

fn tempered_moves_match<E: Executor>(backend: Backend, exec: E) {
    tempered_moves_match_in(backend, exec, 0.0);
}

fn tempered_moves_match_with_a_field<E: Executor>(backend: Backend, exec: E) {
    tempered_moves_match_in(backend, exec, 0.3);
}

fn tempered_moves_match_in<E: Executor>(backend: Backend, exec: E, h: f64) {
    let lattice = Lattice::new(&[4, 6]).unwrap();
    let phi4 = Phi4::new(lattice.clone(), COUPLINGS)
        .unwrap()
        .with_external_field(h)
        .unwrap();
    let v = lattice.volume();
    let p = [params(0.3, 5, Integrator::Leapfrog, 0.3); 4];
    let n = p.len();
    let target = lft_cuda::Phi4Target {
        params: COUPLINGS,
        h,
    };
    let mut device = HmcDevice::new(exec, &lattice, target, n).unwrap();
    for (case, (spec, term)) in [
        (PriorSpec::StandardNormal, PriorTerm::Normal),
        (
            PriorSpec::FreeField { m2: 0.7 },
            PriorTerm::Free { m2: 0.7 },
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let prior = Prior::new(spec, &lattice).unwrap();
        for beta in [0.0, 0.35, 1.0] {
            let target = Tempered {
                prior: &prior,
                action: &phi4,
                beta,
            };
            // The device's S_t leaves out the prior's constant: −(1 − β) log r(0).
            let offset = -(1.0 - beta) * prior.log_prob(&vec![0.0; v]);
            let start = normals(&mut rng(50 + case as u64), n * v, 1.0);
            device.write_fields(&start).unwrap();
            device.set_target(TemperedTarget::tempered(beta, term));
            let mut chains: Vec<HmcChain> = (0..n)
                .map(|b| {
                    HmcChain::resume(
                        &target,
                        start[b * v..(b + 1) * v].to_vec(),
                        stream_rng(0, 0),
                        p[b],
                    )
                })
                .collect();
            let streams: Vec<ChainStream> = (0..n).map(|b| ChainStream::new(5, b as u64)).collect();
            let mut counters = vec![0; n];
            compare_segments(
                &format!("{backend:?} {spec:?} β = {beta}, h = {h}"),
                &mut device,
                &target,
                offset,
                &mut chains,
                &streams,
                &mut counters,
                &[vec![2; n], vec![1, 3, 0, 2]],
                1e-10,
            );
        }
    }
}

/// HMC moves on the annealing path π_β ∝ r^{1−β} e^{−βS} from both priors equal the CPU's
/// on lft-sample's `Tempered` action.
#[test]
fn tempered_moves_match_the_cpu_tempered_action() {
    on_every_backend!("tempered moves", tempered_moves_match);
}

/// The same with an external field h (S − h Σ φ) on the device and on the CPU.
#[test]
fn tempered_moves_with_an_external_field_match_the_cpu() {
    on_every_backend!("tempered moves, h = 0.3", tempered_moves_match_with_a_field);
}

/// The device sampler with its rounds replaced by the default one (every chain's
/// `Chain::advance`, which is its host twin): the CPU reference of a whole run.
struct HostTwin<'a, E: Executor + Send>(&'a DeviceHmcSampler<E>);

impl<E: Executor + Send> Sampler for HostTwin<'_, E> {
    type Chain = DeviceChain;
    fn kind(&self) -> lft_records::SamplerKind {
        self.0.kind()
    }
    fn volume(&self) -> usize {
        self.0.volume()
    }
    fn fresh(&self, index: u64) -> DeviceChain {
        self.0.fresh(index)
    }
    fn resume(
        &self,
        meta: &lft_records::ChainMeta,
        last: Option<&lft_records::StoredRow>,
    ) -> Result<DeviceChain, String> {
        self.0.resume(meta, last)
    }
    fn advance_round(
        &self,
        chains: &mut [DeviceChain],
        rounds: &mut [ChainRound<'_>],
        limits: &RoundLimits,
    ) -> Vec<Option<lft_cuda::CudaError>> {
        lft_sample::advance_each(chains, rounds, limits)
    }
}

fn plan(steps: usize) -> RunPlan {
    RunPlan {
        chains: 3,
        steps,
        save_every: 3,
        flush_every: Duration::ZERO,
        first_chain: 5,
        stop: None,
    }
}

fn assert_stores_agree(what: &str, got: &MemoryStore, want: &MemoryStore, tol: f64) {
    for c in 0..3 {
        let (g, w) = (&got.records[c], &want.records[c]);
        assert_eq!(g.len(), w.len(), "{what}: chain {c} records");
        assert_eq!(
            g.rng_after, w.rng_after,
            "{what}: chain {c} generator states"
        );
        assert_eq!(g.accepted, w.accepted, "{what}: chain {c} acceptances");
        assert_close(&format!("{what}: chain {c} φ"), &g.configs, &w.configs, tol);
        for (i, (gc, wc)) in g.columns.iter().zip(&w.columns).enumerate() {
            assert_close(&format!("{what}: chain {c} column {i}"), gc, wc, tol);
        }
    }
}

fn pipeline_matches<E: Executor + Send>(backend: Backend, exec: E) {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let sampler = DeviceHmcSampler::new(
        exec,
        Phi4::new(lattice.clone(), COUPLINGS).unwrap(),
        3,
        params(0.25, 4, Integrator::Omelyan, 0.5),
        Start::Hot,
        17,
        0,
        None,
    )
    .unwrap();
    let what = format!("{backend:?}");
    let v = lattice.volume();
    let mut twin = MemoryStore::new(v);
    run(&HostTwin(&sampler), &mut twin, &plan(14), &mut ()).unwrap();
    let mut device = MemoryStore::new(v);
    let outcome = run(&sampler, &mut device, &plan(14), &mut ()).unwrap();
    assert_eq!(outcome.summary.steps, 3 * 14);
    assert_stores_agree(&what, &device, &twin, 1e-10);
    // Stopped after 7 steps (two stored) and continued: the same records, bit for bit.
    let mut resumed = MemoryStore::new(v);
    run(&sampler, &mut resumed, &plan(7), &mut ()).unwrap();
    run(&sampler, &mut resumed, &plan(14), &mut ()).unwrap();
    assert_stores_agree(&format!("{what} resumed"), &resumed, &device, 0.0);
}

/// A run of the device sampler in the pipeline stores what its chains' host twins compute
/// (fields, S, ΔH, acceptances, the generator states (chain, t)), and a run continued from
/// its store is the uninterrupted run.
#[test]
fn the_device_sampler_stores_what_its_host_twin_computes() {
    on_every_backend!("device sampler", pipeline_matches);
}

fn tuned_thermalisation<E: Executor + Send>(_: Backend, exec: E) {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let sampler = DeviceHmcSampler::new(
        exec,
        Phi4::new(lattice.clone(), COUPLINGS).unwrap(),
        4,
        params(1.0, 2, Integrator::Leapfrog, 0.0),
        Start::Cold,
        2,
        60,
        Some(0.8),
    )
    .unwrap();
    let mut chains: Vec<DeviceChain> = (0..4).map(|i| sampler.fresh(i)).collect();
    let summary: RunSummary = sampler.thermalize(&mut chains).unwrap().unwrap();
    assert_eq!(summary.steps, 4 * 60);
    for c in &chains {
        assert_eq!(c.counter(), 60);
        let p = c.params();
        // ε = 1 accepts almost nothing; tuned towards 0.8 it is far smaller, the length kept.
        assert!(p.step_size < 0.7, "ε = {}", p.step_size);
        assert!(
            (p.step_size * p.n_steps as f64 - 2.0).abs() <= p.step_size,
            "{p:?}"
        );
        assert!(c.field().iter().any(|&x| x != 0.0), "the chain moved");
    }
    let stored = chains[0].settings();
    assert!(
        matches!(stored, lft_records::ChainSettings::Hmc { step_size, .. } if step_size == chains[0].params().step_size)
    );
}

/// Thermalisation on the device tunes each chain's step size towards the target acceptance
/// at fixed trajectory length, as the CPU's chains do.
#[test]
fn thermalisation_on_the_device_tunes_every_chain() {
    on_every_backend!("device thermalisation", tuned_thermalisation);
}
