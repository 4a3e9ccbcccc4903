//! The path-gradient estimator of the reverse KL (Vaitl et al., arXiv:2207.08219): it is the
//! derivative of F(θ) = ⟨log q_θ₀(f_θ(z)) + S(f_θ(z))⟩ at θ = θ₀ (the density's parameters
//! held fixed), which finite differences check; it has the expectation of the total gradient;
//! and near the target its variance is far smaller.

use lft_action::{Action, Phi4, Phi4Params};
use lft_flow::{CouplingSpec, Flow, PriorSpec};
use lft_lattice::{Lattice, stream_rng};

mod common;
use common::{H, close, flow_spec};

fn flow(coupling: CouplingSpec, equivariant: bool, prior: PriorSpec, seed: u64) -> Flow {
    let spec = flow_spec(4, vec![4], coupling, equivariant, prior, false);
    Flow::new(Lattice::new(&[4, 4]).unwrap(), &spec, seed).unwrap()
}

fn phi4(m2: f64, lambda: f64) -> Phi4 {
    Phi4::new(Lattice::new(&[4, 4]).unwrap(), Phi4Params { m2, lambda }).unwrap()
}

/// F(θ) = (1/n) Σ_b [log q_θ₀(f_θ(z_b)) + S(f_θ(z_b))], with `density` at θ₀.
fn surrogate(density: &Flow, map: &Flow, action: &dyn Action, z: &[f64]) -> f64 {
    let (phi, _) = map.forward_batch(z);
    let log_q = density.log_q(&phi);
    let v = density.lattice().volume();
    let n = log_q.len();
    phi.chunks_exact(v)
        .zip(&log_q)
        .map(|(p, lq)| lq + action.action(p))
        .sum::<f64>()
        / n as f64
}

#[test]
fn the_path_gradient_is_the_derivative_at_a_fixed_density() {
    let action = phi4(-1.0, 1.0);
    let spline = CouplingSpec::Spline {
        bins: 6,
        tail_bound: 2.5,
    };
    for (coupling, equivariant, prior) in [
        (CouplingSpec::Affine, false, PriorSpec::StandardNormal),
        (CouplingSpec::Affine, true, PriorSpec::FreeField { m2: 1.5 }),
        (spline, true, PriorSpec::StandardNormal),
    ] {
        let density = flow(coupling, equivariant, prior, 5);
        let mut map = density.clone();
        let z = density.sample_latent(9, &mut stream_rng(6, 0)); // two chunks, one partial
        let (loss, _, grad) = density.reverse_kl_path(&action, &z);
        let (loss_total, _, _) = density.reverse_kl(&action, &z);
        assert!((loss - loss_total).abs() < 1e-12 * loss.abs().max(1.0));
        for i in (0..density.n_params()).step_by(5) {
            let p0 = map.params()[i];
            map.params_mut()[i] = p0 + H;
            let up = surrogate(&density, &map, &action, &z);
            map.params_mut()[i] = p0 - H;
            let down = surrogate(&density, &map, &action, &z);
            map.params_mut()[i] = p0;
            close(
                grad[i],
                (up - down) / (2.0 * H),
                &format!("{coupling:?}, path gradient dθ[{i}]"),
            );
        }
    }
}

/// Per-sample gradients (batches of one) of both estimators on the same latent draws.
fn per_sample(
    flow: &Flow,
    action: &dyn Action,
    n: usize,
    seed: u64,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let v = flow.lattice().volume();
    let mut z = vec![0.0; v];
    let mut rng = stream_rng(seed, 1);
    let (mut path, mut total) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        flow.prior().sample(&mut rng, &mut z);
        path.push(flow.reverse_kl_path(action, &z).2);
        total.push(flow.reverse_kl(action, &z).2);
    }
    (path, total)
}

#[test]
fn the_path_gradient_has_the_expectation_of_the_total_gradient() {
    // Paired by draw, the difference is minus the score ∂_θ log q_θ(φ)|_φ, of mean zero under q.
    let flow = flow(CouplingSpec::Affine, false, PriorSpec::StandardNormal, 8);
    let action = phi4(-1.0, 1.0);
    let n = 4000;
    let (path, total) = per_sample(&flow, &action, n, 9);
    let k = flow.n_params();
    let mut worst: f64 = 0.0;
    for i in 0..k {
        let d: Vec<f64> = (0..n).map(|b| path[b][i] - total[b][i]).collect();
        let mean = d.iter().sum::<f64>() / n as f64;
        let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        if var > 0.0 {
            worst = worst.max(mean.abs() / (var / n as f64).sqrt());
        }
    }
    // The largest of k ≈ 250 |z| scores: beyond 5 with probability ≈ 1e-4 for unbiased estimators.
    assert!(worst < 5.0, "largest |mean difference| / error = {worst}");
}

#[test]
fn near_the_free_field_the_path_gradient_has_a_far_smaller_variance() {
    // The free-field prior of mass² 1.3 pushed through near-identity couplings, for the free
    // field of mass² 1.2 (φ⁴ at λ = 0): q is close to p, and the path gradient with it.
    let mut near = flow(
        CouplingSpec::Affine,
        false,
        PriorSpec::FreeField { m2: 1.3 },
        3,
    );
    near.params_mut().iter_mut().for_each(|p| *p *= 0.3);
    let action = phi4(1.2, 0.0);
    let n = 2000;
    let (path, total) = per_sample(&near, &action, n, 5);
    let trace = |g: &[Vec<f64>]| {
        (0..near.n_params())
            .map(|i| {
                let mean = g.iter().map(|x| x[i]).sum::<f64>() / n as f64;
                g.iter().map(|x| (x[i] - mean).powi(2)).sum::<f64>() / (n - 1) as f64
            })
            .sum::<f64>()
    };
    let (var_path, var_total) = (trace(&path), trace(&total));
    assert!(
        var_path < 0.1 * var_total,
        "trace of the covariance: path {var_path}, total {var_total}"
    );
}
