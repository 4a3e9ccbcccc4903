//! The flow-quality estimate of `lft train` (before and after training, and after a
//! `[pretrain]` stage), on a random stream of its own, printed or as JSON.

use lft_action::Action;
use lft_flow::diagnostics::evaluate;
use lft_flow::{Flow, FlowQuality};
use lft_lattice::stream_rng;

/// Random stream of the estimates' latent draws: the same for every estimate of one config,
/// so estimates before and after a stage compare pairwise, and apart from training's batches.
const EVAL_STREAM: u64 = (1 << 32) + 2;

/// [`evaluate`] on `samples` fresh draws of the config seed's estimate stream.
pub fn estimate(flow: &Flow, action: &dyn Action, samples: usize, seed: u64) -> FlowQuality {
    let mut rng = stream_rng(seed, EVAL_STREAM);
    evaluate(flow, action, samples, &mut rng)
}

/// The quality estimate as printed by `lft train`.
pub fn print_quality(q: &FlowQuality) {
    println!("  quality over {} fresh samples:", q.samples);
    println!(
        "  loss <log q + S>         {:.5} (variance {:.4})",
        q.loss, q.loss_variance
    );
    println!("  ESS (Kish)               {:.4}", q.ess);
    println!(
        "  log Z (importance)       {:.4} ± {:.4}",
        q.log_z, q.log_z_error
    );
    println!("  IMH acceptance           {:.4}", q.acceptance);
    println!("  longest rejection run    {}", q.longest_rejection_run);
    match q.pareto_k {
        Some(k) => println!("  Pareto k-hat             {k:.3} (above 0.7: unreliable)"),
        None => println!("  Pareto k-hat             none (equal weights)"),
    }
    if let Some(f) = q.positive_fraction {
        let expected = if q.z2_symmetric {
            " (1/2 expected)"
        } else {
            ""
        };
        println!("  proposals with M > 0     {f:.4}{expected}");
    }
    if let Some(f) = q.positive_reweighted {
        println!("  reweighted M > 0         {f:.4}");
    }
    println!(
        "  round trip               {:.1e} in z, {:.1e} in log q",
        q.round_trip.latent_error, q.round_trip.log_q_error
    );
    if let Some(e) = &q.integrator_error {
        println!(
            "  integrator error         {:.1e} RMS, {:.1e} max in log q (N vs {}N steps, {} draws; log w spread {:.2e})",
            e.rms,
            e.max,
            lft_flow::integrator_error::REFINEMENT,
            e.samples,
            q.loss_variance.sqrt()
        );
    }
    if !q.charges.is_empty() {
        println!("  P(Q)                     proposed  reweighted");
        for c in q
            .charges
            .iter()
            .filter(|c| c.proposed >= 1e-4 || c.reweighted >= 1e-4)
        {
            println!(
                "    Q = {:>3}                {:.4}    {:.4}",
                c.q, c.proposed, c.reweighted
            );
        }
    }
}

/// The quality estimate as JSON.
pub fn quality_json(q: &FlowQuality) -> serde_json::Value {
    serde_json::json!({
        "samples": q.samples,
        "loss": q.loss,
        "loss_variance": q.loss_variance,
        "ess": q.ess,
        "log_z": q.log_z,
        "log_z_error": q.log_z_error,
        "acceptance": q.acceptance,
        "longest_rejection_run": q.longest_rejection_run,
        "pareto_k": q.pareto_k,
        "positive_fraction": q.positive_fraction,
        "positive_reweighted": q.positive_reweighted,
        "non_finite": q.non_finite,
        "round_trip_latent_error": q.round_trip.latent_error,
        "round_trip_log_q_error": q.round_trip.log_q_error,
        "integrator_error_rms": q.integrator_error.map(|e| e.rms),
        "integrator_error_max": q.integrator_error.map(|e| e.max),
        "charges": q.charges.iter().map(|c| serde_json::json!({
            "q": c.q,
            "proposed": c.proposed,
            "reweighted": c.reweighted,
        })).collect::<Vec<_>>(),
    })
}
