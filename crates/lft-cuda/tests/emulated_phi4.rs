//! The φ⁴ kernels, run on the host emulator, against lft-action's Phi4: same numbers to
//! rounding, in every dimension 1–4, with and without an external field h. The HMC kernels
//! are tested in `device_hmc.rs`.

mod common;

use common::{assert_close, normals, rng, run_all};
use lft_action::{Action, Phi4, Phi4Params};
use lft_cuda::call::HostTable;
use lft_cuda::ops::phi4::Phi4Batch;
use lft_cuda::tables::NeighbourTables;
use lft_lattice::Lattice;

const PARAMS: Phi4Params = Phi4Params {
    m2: -1.2,
    lambda: 0.9,
};

fn setup(shape: &[usize], h: f64, table: &mut HostTable) -> (Phi4, Phi4Batch) {
    let lattice = Lattice::new(shape).unwrap();
    let tables = NeighbourTables::new(&lattice);
    let fwd = table.i32(&tables.fwd);
    let bwd = table.i32(&tables.bwd);
    let target = lft_cuda::Phi4Target { params: PARAMS, h };
    let batch = Phi4Batch::of(&tables, target, fwd, bwd);
    let cpu = Phi4::new(lattice, PARAMS)
        .unwrap()
        .with_external_field(h)
        .unwrap();
    (cpu, batch)
}

#[test]
fn action_and_gradient_match_the_cpu_in_every_dimension() {
    let shapes = [vec![7], vec![6, 4], vec![4, 3, 5], vec![3, 2, 3, 2]];
    for (case, (shape, h)) in shapes
        .iter()
        .flat_map(|s| [(s, 0.0), (s, 0.37)])
        .enumerate()
    {
        let mut table = HostTable::default();
        let (cpu, gpu) = setup(shape, h, &mut table);
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
            let what = format!("{backend:?} {shape:?} h = {h}");
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
