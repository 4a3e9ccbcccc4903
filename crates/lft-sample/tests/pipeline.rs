//! The one sampler pipeline: fresh and resumed runs give the same records for every sampler,
//! `save_every` keeps exactly every k-th step, resume points respect a flow chain's batches,
//! chain indices select streams, a stop request ends a run early and resumably, and stores
//! that do not fit the run are refused.

mod common;
use common::trained_flow;
use lft_action::{Action, Phi4, Phi4Params};
use lft_lattice::Lattice;
use lft_records::Store;
use lft_sample::{
    FlowHmcSampler, HmcParams, HmcSampler, ImhSampler, Integrator, InverseCheck, MemoryStore,
    Progress, ReweightSampler, RunError, RunPlan, RunSummary, Sampler, Start, Stop, StoreMismatch,
    run,
};
use std::time::Duration;

fn phi4() -> Phi4 {
    Phi4::new(
        Lattice::new(&[4, 4]).unwrap(),
        Phi4Params {
            m2: -1.0,
            lambda: 1.0,
        },
    )
    .unwrap()
}

fn params() -> HmcParams {
    HmcParams {
        step_size: 0.2,
        n_steps: 5,
        integrator: Integrator::Omelyan,
        length_jitter: 0.5,
    }
}

fn hmc(action: &dyn Action) -> HmcSampler<'_> {
    HmcSampler {
        action,
        params: params(),
        start: Start::Hot,
        seed: 3,
        thermalization: 20,
        tune: None,
        mass: None,
        tune_mass: false,
    }
}

fn plan(chains: usize, steps: usize, save_every: usize) -> RunPlan {
    RunPlan {
        chains,
        steps,
        save_every,
        // Zero: a flush after every step, the most interleaving the runner can do.
        flush_every: Duration::ZERO,
        first_chain: 0,
        stop: None,
    }
}

/// Runs `sampler` to `steps` in one go, and in pieces (`stops`, each followed by a run that
/// continues the same store); both stores must hold the same records.
fn resumes_exactly<S: Sampler>(sampler: &S, steps: usize, save_every: usize, stops: &[usize])
where
    <S::Chain as lft_sample::Chain>::Error: std::fmt::Debug,
{
    let v = sampler.volume();
    let mut whole = MemoryStore::new(v);
    let out = run(sampler, &mut whole, &plan(2, steps, save_every), &mut ()).unwrap();
    assert_eq!(out.summary.steps as usize, 2 * steps);
    assert!(!out.resumed);
    let mut pieces = MemoryStore::new(v);
    for &stop in stops.iter().chain([&steps]) {
        run(sampler, &mut pieces, &plan(2, stop, save_every), &mut ()).unwrap();
    }
    for c in 0..2 {
        assert_eq!(whole.records[c].len(), steps / save_every);
        assert_eq!(whole.records[c], pieces.records[c], "chain {c}");
    }
    assert_eq!(whole.metas, pieces.metas);
}

#[test]
fn hmc_resumes_exactly() {
    let action = phi4();
    resumes_exactly(&hmc(&action), 60, 1, &[1, 17, 40]);
}

#[test]
fn flow_samplers_resume_exactly() {
    let action = phi4();
    let flow = trained_flow(&action, 10, 5);
    let imh = ImhSampler {
        proposal: &flow,
        action: &action,
        batch: 8,
        seed: 9,
        flow_step: 10,
        inverse_check: InverseCheck::default(),
    };
    // Stops inside batches: the chain restarts from the last complete batch.
    resumes_exactly(&imh, 50, 1, &[5, 8, 30]);
    resumes_exactly(&imh, 48, 4, &[12, 20]);
    let reweight = ReweightSampler {
        proposal: &flow,
        action: &action,
        batch: 8,
        seed: 9,
        flow_step: 10,
        inverse_check: InverseCheck::default(),
    };
    resumes_exactly(&reweight, 40, 1, &[3, 21]);
    let flow_hmc = FlowHmcSampler {
        proposal: &flow,
        action: &action,
        params: params(),
        hmc_per_step: 2,
        seed: 9,
        flow_step: 10,
        inverse_check: InverseCheck::default(),
    };
    resumes_exactly(&flow_hmc, 30, 3, &[4, 11]);
}

/// save_every = k stores steps k, 2k, …: exactly those rows of an every-step run, while the
/// run summary counts every step.
#[test]
fn save_every_keeps_every_kth_step_and_counts_all() {
    let action = phi4();
    let sampler = hmc(&action);
    let v = sampler.volume();
    let mut every = MemoryStore::new(v);
    let all = run(&sampler, &mut every, &plan(2, 90, 1), &mut ()).unwrap();
    let mut thinned = MemoryStore::new(v);
    let some = run(&sampler, &mut thinned, &plan(2, 90, 3), &mut ()).unwrap();
    assert_eq!(some.summary.steps, 180);
    assert_eq!(some.summary.accepted, all.summary.accepted);
    assert_eq!(some.summary.sum_delta_h, all.summary.sum_delta_h);
    for c in 0..2 {
        let (a, b) = (&every.records[c], &thinned.records[c]);
        assert_eq!(b.len(), 30);
        for i in 0..30 {
            assert_eq!(b.row(i), a.row(3 * i + 2), "chain {c}, row {i}");
        }
        assert_eq!(thinned.metas[c].save_every, 3);
    }
}

/// Chain c of a run whose first chain is f draws the stream of chain f + c: a task owning
/// chain 1 alone reproduces chain 1 of a two-chain run.
#[test]
fn the_first_chain_index_selects_the_streams() {
    let action = phi4();
    let sampler = hmc(&action);
    let mut both = MemoryStore::new(16);
    run(&sampler, &mut both, &plan(2, 30, 1), &mut ()).unwrap();
    let mut second = MemoryStore::new(16);
    let mut p = plan(1, 30, 1);
    p.first_chain = 1;
    run(&sampler, &mut second, &p, &mut ()).unwrap();
    assert_eq!(second.records[0].configs, both.records[1].configs);
    assert_eq!(second.metas[0], both.metas[1]);
    assert_ne!(both.records[0].configs, both.records[1].configs);
}

/// Requests `stop` once the run has made `after` steps (as a signal would, between rounds).
struct StopAfter {
    stop: &'static Stop,
    after: u64,
}

impl Progress for StopAfter {
    fn update(&mut self, summary: &RunSummary) {
        if summary.steps >= self.after {
            self.stop.request();
        }
    }
}

impl lft_sample::RunObserver for StopAfter {}

/// A stop requested part-way ends the run after the steps in hand with `stopped` set and
/// fewer records than asked for; a run without the request then continues the store to the
/// records of an uninterrupted run.
#[test]
fn a_stop_request_ends_the_run_early_and_resumably() {
    static STOP: Stop = Stop::new();
    let action = phi4();
    let sampler = hmc(&action);
    let mut whole = MemoryStore::new(16);
    run(&sampler, &mut whole, &plan(2, 200, 1), &mut ()).unwrap();
    let mut store = MemoryStore::new(16);
    let mut stopping = plan(2, 200, 1);
    stopping.stop = Some(&STOP);
    let mut observer = StopAfter {
        stop: &STOP,
        after: 50,
    };
    let out = run(&sampler, &mut store, &stopping, &mut observer).unwrap();
    assert!(out.summary.stopped);
    let stored: Vec<usize> = store.records.iter().map(|r| r.len()).collect();
    assert!(
        stored.iter().all(|&n| n < 200) && stored.iter().sum::<usize>() >= 50,
        "stored {stored:?}"
    );
    let out = run(&sampler, &mut store, &plan(2, 200, 1), &mut ()).unwrap();
    assert!(!out.summary.stopped);
    assert_eq!(whole.records, store.records);
    // A flag requested before the run starts: no step is made at all.
    let mut early = MemoryStore::new(16);
    let out = run(&sampler, &mut early, &stopping, &mut ()).unwrap();
    assert!(out.summary.stopped && out.summary.steps == 0);
}

#[test]
fn stores_that_do_not_fit_the_run_are_refused() {
    let action = phi4();
    let sampler = hmc(&action);
    let mut store = MemoryStore::new(16);
    run(&sampler, &mut store, &plan(2, 30, 1), &mut ()).unwrap();
    let message = |r: Result<(), RunError<_, _, StoreMismatch>>| match r {
        Err(RunError::Stored(m)) => m.to_string(),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("accepted"),
    };
    let m = message(run(&sampler, &mut store.clone(), &plan(2, 20, 1), &mut ()).map(|_| ()));
    assert!(
        m.contains("already holds 30 records, more than the 20"),
        "{m}"
    );
    let m = message(run(&sampler, &mut store.clone(), &plan(3, 30, 1), &mut ()).map(|_| ()));
    assert!(m.contains("holds 2 chain(s), but the run has 3"), "{m}");
    let m = message(run(&sampler, &mut store.clone(), &plan(2, 30, 2), &mut ()).map(|_| ()));
    assert!(m.contains("one step in 1"), "{m}");
    let flow = trained_flow(&action, 2, 5);
    let imh = ImhSampler {
        proposal: &flow,
        action: &action,
        batch: 4,
        seed: 1,
        flow_step: 2,
        inverse_check: InverseCheck::default(),
    };
    let m = match run(&imh, &mut store.clone(), &plan(2, 30, 1), &mut ()) {
        Err(RunError::Stored(m)) => m.to_string(),
        other => panic!("{:?}", other.map(|_| ())),
    };
    assert!(m.contains("sampler `hmc`, not `flow-imh`"), "{m}");
    // A complete store is left as it is.
    let before = store.records.clone();
    let out = run(&sampler, &mut store, &plan(2, 30, 1), &mut ()).unwrap();
    assert!(out.resumed && out.summary.steps == 0);
    assert_eq!(store.records, before);
    assert!(store.stored().unwrap().is_some());
}
