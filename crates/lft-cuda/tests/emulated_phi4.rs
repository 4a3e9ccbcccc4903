//! The φ⁴ and HMC kernels, run on the host emulator, against lft-action's Phi4 and
//! lft-sample's integrators: same numbers to rounding, in every dimension 1–4.

mod common;

use common::{assert_close, normals, rng, run_all};
use lft_action::{Action, Phi4, Phi4Params};
use lft_cuda::call::HostTable;
use lft_cuda::ops::phi4::{HmcBatch, HmcWork, Phi4Batch};
use lft_cuda::philox::{PhiloxKey, accept_uniform, normal_fill};
use lft_cuda::tables::NeighbourTables;
use lft_lattice::Lattice;
use lft_records::Integrator;
use lft_sample::Integrate;

const PARAMS: Phi4Params = Phi4Params {
    m2: -1.2,
    lambda: 0.9,
};

fn setup(shape: &[usize], table: &mut HostTable) -> (Phi4, Phi4Batch) {
    let lattice = Lattice::new(shape).unwrap();
    let tables = NeighbourTables::new(&lattice);
    let fwd = table.i32(&tables.fwd);
    let bwd = table.i32(&tables.bwd);
    let batch = Phi4Batch::new(&tables, PARAMS.m2, PARAMS.lambda, fwd, bwd);
    (Phi4::new(lattice, PARAMS).unwrap(), batch)
}

#[test]
fn action_and_gradient_match_the_cpu_in_every_dimension() {
    for (case, shape) in [vec![7], vec![6, 4], vec![4, 3, 5], vec![3, 2, 3, 2]]
        .iter()
        .enumerate()
    {
        let mut table = HostTable::default();
        let (cpu, gpu) = setup(shape, &mut table);
        let (n, v) = (3, cpu.lattice().volume());
        let phis = normals(&mut rng(case as u64), n * v, 1.0);
        let phi = table.f64(&phis);
        let grad = table.zeros(n * v);
        let action = table.zeros(n);
        let calls = [
            gpu.gradient(n, phi, grad).unwrap(),
            gpu.action(n, phi, action).unwrap(),
        ];
        let results = run_all("phi4", &table, &calls);
        let mut want_grad = vec![0.0; n * v];
        let mut want_action = vec![0.0; n];
        for b in 0..n {
            let p = &phis[b * v..][..v];
            cpu.gradient(p, &mut want_grad[b * v..][..v]);
            want_action[b] = cpu.action(p);
        }
        for (backend, table) in &results {
            let tol = backend.tol(1e-12);
            let what = format!("{backend:?} {shape:?}");
            assert_close(
                &format!("{what} gradient"),
                &table.get(grad),
                &want_grad,
                tol,
            );
            assert_close(
                &format!("{what} action"),
                &table.get(action),
                &want_action,
                tol,
            );
        }
    }
}

/// The device's kick/drift schedule is the CPU integrator, step for step.
#[test]
fn trajectories_match_the_cpu_integrators() {
    for (integrator, eps, steps) in [
        (Integrator::Leapfrog, 0.1, 7),
        (Integrator::Omelyan, 0.2, 4),
    ] {
        let mut table = HostTable::default();
        let (cpu, action) = setup(&[6, 5], &mut table);
        let (n, v) = (3, cpu.lattice().volume());
        let phi0 = normals(&mut rng(10), n * v, 0.8);
        let pi0 = normals(&mut rng(11), n * v, 1.0);
        let hmc = HmcBatch {
            action,
            chains: n,
            beta: 1.0,
            phi: table.f64(&phi0),
            pi: table.f64(&pi0),
        };
        let energy = table.zeros(n);
        let mut calls = hmc.trajectory(integrator, eps, steps).unwrap();
        calls.push(hmc.hamiltonian(energy).unwrap());
        let results = run_all("trajectories", &table, &calls);
        let (mut phi, mut pi) = (phi0.clone(), pi0.clone());
        let mut want_h = vec![0.0; n];
        for b in 0..n {
            let (p, q) = (&mut phi[b * v..][..v], &mut pi[b * v..][..v]);
            let mut grad = vec![0.0; v];
            cpu.gradient(p, &mut grad);
            integrator.integrate(&cpu, p, q, &mut grad, eps, steps);
            want_h[b] = cpu.action(p) + 0.5 * q.iter().map(|x| x * x).sum::<f64>();
        }
        for (backend, table) in &results {
            let (tol, what) = (backend.tol(1e-12), format!("{backend:?} {integrator:?}"));
            assert_close(&format!("{what} φ"), &table.get(hmc.phi), &phi, tol);
            assert_close(&format!("{what} π"), &table.get(hmc.pi), &pi, tol);
            assert_close(&format!("{what} H"), &table.get(energy), &want_h, tol);
        }
    }
}

/// A whole update (Philox momenta, trajectory, Metropolis test) gives what the host twin of
/// the generator and the CPU integrator predict, chain by chain, accepted or not.
#[test]
fn an_update_accepts_and_restores_as_the_host_predicts() {
    let mut table = HostTable::default();
    let (cpu, action) = setup(&[4, 4], &mut table);
    let (n, v) = (16, cpu.lattice().volume());
    let phi0 = normals(&mut rng(20), n * v, 1.0);
    let hmc = HmcBatch {
        action,
        chains: n,
        beta: 1.0,
        phi: table.f64(&phi0),
        pi: table.zeros(n * v),
    };
    let work = HmcWork {
        phi_old: table.zeros(n * v),
        h_old: table.zeros(n),
        h_new: table.zeros(n),
        accepted: table.i32(&vec![-1; n]),
    };
    let key = PhiloxKey::from_seed(77);
    let (eps, steps, t) = (0.35, 3, 5);
    let calls = hmc
        .update(&work, Integrator::Leapfrog, eps, steps, key, t)
        .unwrap();
    for (backend, table) in run_all("update", &table, &calls) {
        let mut pi = vec![0.0; n * v];
        normal_fill(&mut pi, key, 2 * t);
        let got_phi = table.get(hmc.phi);
        let got_accepted = table.get(work.accepted);
        let mut seen = [0usize; 2];
        for b in 0..n {
            let mut p = phi0[b * v..][..v].to_vec();
            let q = &mut pi[b * v..][..v];
            let h_old = cpu.action(&p) + 0.5 * q.iter().map(|x| x * x).sum::<f64>();
            let mut grad = vec![0.0; v];
            cpu.gradient(&p, &mut grad);
            Integrator::Leapfrog.integrate(&cpu, &mut p, q, &mut grad, eps, steps);
            let h_new = cpu.action(&p) + 0.5 * q.iter().map(|x| x * x).sum::<f64>();
            let u = accept_uniform(b as u32, key, 2 * t + 1);
            let accept = h_new <= h_old || u < (h_old - h_new).exp();
            assert_eq!(got_accepted[b], f64::from(accept as i32), "chain {b}");
            let want = if accept {
                p
            } else {
                phi0[b * v..][..v].to_vec()
            };
            assert_close(
                &format!("{backend:?} chain {b} φ"),
                &got_phi[b * v..][..v],
                &want,
                backend.tol(1e-12),
            );
            seen[accept as usize] += 1;
        }
        // The step is large enough that both outcomes occur, so both paths were checked.
        assert!(seen[0] > 0 && seen[1] > 0, "accepted/rejected: {seen:?}");
    }
}
