//! [`FabPath`](super::FabPath) on lane batches of [`LANES`] particles, where the flow and the
//! action offer them (coupling flows of scalar fields and φ⁴): the flow's lane passes and the
//! action's lane kernels, and [`LaneHmc`] for the moves. The prior's terms are evaluated lane by
//! lane. Lanes agree with the one-particle path to rounding (the lane kernels use fused
//! multiply-adds).

use crate::LaneTarget;
use lft_action::{Action, LaneAction};
use lft_flow::{Flow, LaneStackScratch};
use lft_lattice::{LANES, Lanes, lane_gather, lane_scatter};
use std::sync::Mutex;

/// π_β of FAB's path on lane batches.
pub struct FabPathLanes<'a> {
    flow: &'a Flow,
    action: &'a dyn LaneAction,
    pub beta: f64,
    /// The lane pass's buffers and a sink for the parameter gradient (unused here).
    scratch: Mutex<(LaneStackScratch, Vec<f64>)>,
}

/// Every lane's log r(z), φ = f(z) (lane batch), log|det ∂f/∂z| and S(φ).
pub struct LanePoints {
    pub log_prior: Lanes,
    pub phi: Vec<Lanes>,
    pub logdet: Lanes,
    pub action: Lanes,
}

impl<'a> FabPathLanes<'a> {
    /// The lane path of `flow` and `action`, where both offer lane batches.
    pub fn new(flow: &'a Flow, action: &'a dyn Action, beta: f64) -> Option<Self> {
        let lanes = action.lanes()?;
        let periodic = matches!(flow.prior(), lft_flow::Prior::Uniform { .. });
        (flow.stack().has_lanes() && !periodic && action.state_len() == flow.field_len()).then(
            || Self {
                flow,
                action: lanes,
                beta,
                scratch: Mutex::new((LaneStackScratch::default(), vec![0.0; flow.n_params()])),
            },
        )
    }

    /// Values per configuration.
    pub fn volume(&self) -> usize {
        self.flow.field_len()
    }

    /// The flow's prior.
    pub fn prior(&self) -> &lft_flow::Prior {
        self.flow.prior()
    }

    /// The same path at another β.
    pub fn at(&self, beta: f64) -> Self {
        Self {
            flow: self.flow,
            action: self.action,
            beta,
            scratch: Mutex::new((LaneStackScratch::default(), vec![0.0; self.flow.n_params()])),
        }
    }

    /// log r of every lane, and with `grad` its ∂(−log r)/∂z.
    fn prior_terms(&self, z: &[Lanes], grad: Option<&mut [Lanes]>) -> Lanes {
        let prior = self.flow.prior();
        let mut one = vec![0.0; z.len()];
        let mut g = vec![0.0; z.len()];
        let mut log_prior = [0.0; LANES];
        let mut grad = grad;
        for (l, lp) in log_prior.iter_mut().enumerate() {
            lane_gather(z, l, &mut one);
            *lp = prior.log_prob(&one);
            if let Some(out) = grad.as_deref_mut() {
                prior.grad_neg_log_prob(&one, &mut g);
                lane_scatter(&g, l, out);
            }
        }
        log_prior
    }

    /// Every lane's values along the path.
    pub fn points(&self, z: &[Lanes]) -> LanePoints {
        let mut phi = vec![[0.0; LANES]; z.len()];
        let logdet = {
            let mut scratch = self.scratch.lock().expect("not poisoned");
            self.flow.stack().forward_lanes(z, &mut phi, &mut scratch.0)
        };
        LanePoints {
            log_prior: self.prior_terms(z, None),
            action: self.action.lane_action(&phi),
            logdet,
            phi,
        }
    }

    /// log π_β of every lane from its values (a term whose coefficient is 0 left out).
    pub fn log_density(&self, p: &LanePoints) -> Lanes {
        std::array::from_fn(|l| {
            let prior = if self.beta != 0.5 {
                (1.0 - 2.0 * self.beta) * p.log_prior[l]
            } else {
                0.0
            };
            let target = if self.beta > 0.0 {
                2.0 * self.beta * (p.logdet[l] - p.action[l])
            } else {
                0.0
            };
            prior + target
        })
    }
}

impl LaneTarget for FabPathLanes<'_> {
    fn action(&self, z: &[Lanes]) -> Lanes {
        self.log_density(&self.points(z)).map(|x| -x)
    }

    /// (1 − 2β) ∂(−log r)/∂z + 2β ∂(S∘f − log|det|)/∂z, the second one lane backward pass.
    fn gradient(&self, z: &[Lanes], grad: &mut [Lanes]) {
        let mut prior = vec![[0.0; LANES]; z.len()];
        self.prior_terms(z, Some(&mut prior));
        let a = 1.0 - 2.0 * self.beta;
        if self.beta == 0.0 {
            grad.copy_from_slice(&prior);
            return;
        }
        let mut guard = self.scratch.lock().expect("not poisoned");
        let (scratch, unused) = &mut *guard;
        let mut phi = vec![[0.0; LANES]; z.len()];
        self.flow.stack().forward_lanes(z, &mut phi, scratch);
        let mut g = vec![[0.0; LANES]; z.len()];
        self.action.lane_scaled_gradient(&phi, &mut g, 1.0, 0.0);
        self.flow
            .stack()
            .backward_lanes(scratch, &mut g, &[-1.0; LANES], unused);
        grad.copy_from_slice(&g);
        for (g, p) in grad.iter_mut().zip(&prior) {
            for l in 0..LANES {
                g[l] = a * p[l] + 2.0 * self.beta * g[l];
            }
        }
    }
}
