//! The finite-difference check of a CRAFT transport's transition loss, shared by the φ⁴ and
//! the joint pseudofermion tests.

use lft_action::Action;
use lft_flow::{BijectionStack, Prior};
use lft_sample::anneal::transition_loss;

/// Central differences (h = 1e-5) of the transition loss L(θ) from β = `betas.0` to
/// `betas.1` against its analytic gradient, for every parameter of `flow`: each relative error
/// |fd − grad|/(1 + |fd|) must be below 1e-6, and some gradient component above 1e-3 (so that
/// the check is not of zeros). Returns the worst relative error.
pub fn check_transition_loss_gradient(
    label: &str,
    flow: &BijectionStack,
    prior: &Prior,
    action: &dyn Action,
    betas: (f64, f64),
    particles: &[f64],
    weights: &[f64],
) -> f64 {
    let mut grad = vec![0.0; flow.n_params()];
    transition_loss(flow, prior, action, betas, particles, weights, &mut grad);
    let h = 1e-5;
    let mut worst: f64 = 0.0;
    for j in 0..flow.n_params() {
        let at = |delta: f64| {
            let mut f = flow.clone();
            f.params_mut()[j] += delta;
            let mut sink = vec![0.0; f.n_params()];
            transition_loss(&f, prior, action, betas, particles, weights, &mut sink)
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        let err = (fd - grad[j]).abs() / (1.0 + fd.abs());
        worst = worst.max(err);
        assert!(
            err < 1e-6,
            "{label} param {j}: fd {fd}, analytic {}",
            grad[j]
        );
    }
    assert!(grad.iter().any(|g| g.abs() > 1e-3), "{label}: a gradient");
    worst
}
