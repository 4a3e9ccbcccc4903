//! Stochastic normalizing flows (Wu, Köhler, Noé 2020) on the annealing path of
//! [`super::path`]: K stages, stage k a flow block T_k (an annealing transport, the identity
//! until trained) followed by `steps` HMC trajectories (leapfrog, unit mass; one step is MALA)
//! at π_k ∝ r^{1−β_k} e^{−β_k S}, β_k = k/K. With U_β = −log π_β (U_0 = −log r, normalised)
//! a trajectory from x_0 ~ r has the generalised work
//!   W = Σ_k [U_k(y_k) − log|det ∂T_k/∂x|(x_{k−1}) − U_{k−1}(x_{k−1})],   y_k = T_k(x_{k−1}),
//! x_k the HMC moves' result from y_k (their heat cancels: each move leaves π_k invariant), so
//! E[e^{−W}] = Z and e^{−W} weights the endpoint exactly (NE-MCMC, [`super::nemcmc`]).
//!
//! **Training** minimises E[W] = KL(path ‖ reversed target path) − log Z, the reverse KL of the
//! path, by its reparameterised gradient: the noise of a trajectory (x_0, the momenta, the
//! uniforms of the accept tests) is held fixed and W is differentiated through every block
//! and every move, back to front. Langevin steps are smooth, so the gradient is exactly that
//! of E[W]. Through HMC, a rejected trajectory returns its start (an identity map) and the
//! accept decisions are not differentiated, so the gradient is that of W with the decisions
//! frozen (what a finite difference at fixed noise reproduces), which is biased: it leaves
//! out how the blocks move the acceptance. Backpropagation through a move needs the Hessian
//! of U_k against a vector ([`Action::hessian_vector`]: φ⁴ has it), two per step.
//!
//! Streams: trajectory i of a batch draws its start, momenta and uniforms from (seed,
//! base + 1 + i), in a fixed order, so the same (seed, base) gives the same noise whatever
//! the parameters.

use super::blocks::TrainedFlows;
use super::nemcmc::{MoveKind, Stages, Trajectories, TrajectorySource};
use super::path::Tempered;
use super::settings::AnnealError;
use lft_action::Action;
use lft_flow::{BijectionStack, FlowSpec, ParamCountError, Prior, StackScratch};
use lft_lattice::{Lattice, Pcg64, gaussian_fill, stream_rng, uniform};
use rayon::prelude::*;

/// First stream of the blocks' initial hidden layers (block k uses SNF_INIT_STREAM + k).
pub const SNF_INIT_STREAM: u64 = 5 << 32;
/// First stream of the training batches (step t: `pass_base(SNF_TRAIN_STREAM, t)`).
pub const SNF_TRAIN_STREAM: u64 = 3 << 60;

/// A stochastic normalizing flow: prior, target, stages and their blocks (one per stage, or
/// none at all: then its trajectories are AIS's with leapfrog HMC moves).
pub struct Snf<'a> {
    pub prior: &'a Prior,
    pub action: &'a dyn Action,
    pub stages: Stages,
    pub blocks: &'a [BijectionStack],
}

/// One move as recorded for backpropagation.
enum MoveTape {
    /// An HMC trajectory: the positions x_0 … x_n of its steps if it was accepted.
    Hmc(Option<Vec<Vec<f64>>>),
    /// A Langevin step x → y and its r = ε(∇U(x) + ∇U(y)) − √(2ε) ξ.
    Langevin {
        x: Vec<f64>,
        y: Vec<f64>,
        r: Vec<f64>,
    },
}

/// One stage as recorded: its input x_{k−1}, the block's caches, its output y_k and moves.
struct StageTape {
    input: Vec<f64>,
    scratch: Option<StackScratch>,
    output: Vec<f64>,
    moves: Vec<MoveTape>,
}

/// A trajectory's end, its work and, when recorded, its tape.
struct Run {
    config: Vec<f64>,
    work: f64,
    accepted: usize,
    tape: Vec<StageTape>,
}

impl<'a> Snf<'a> {
    /// Checks the stages and blocks: K ≥ 1 stages and either no block or one per stage.
    pub fn new(
        prior: &'a Prior,
        action: &'a dyn Action,
        stages: Stages,
        blocks: &'a [BijectionStack],
    ) -> Result<Self, AnnealError> {
        if stages.stages == 0 {
            return Err(AnnealError::TooSmall {
                what: "stages",
                min: 1,
                value: 0,
            });
        }
        if action.state_len() != action.field_len() {
            return Err(AnnealError::Unsupported(
                "snf: a stochastic normalizing flow moves the field alone: auxiliary fields \
                 (pseudofermions) are not supported"
                    .into(),
            ));
        }
        if !blocks.is_empty() && blocks.len() != stages.stages {
            return Err(AnnealError::FlowCount {
                expected: stages.stages,
                found: blocks.len(),
            });
        }
        Ok(Self {
            prior,
            action,
            stages,
            blocks,
        })
    }

    /// The target of stage k (β = k/K).
    fn stage(&self, k: usize) -> Tempered<'a> {
        Tempered {
            prior: self.prior,
            action: self.action,
            beta: k as f64 / self.stages.stages as f64,
        }
    }

    /// One trajectory from the stream `rng`; with `record`, the tape for [`Snf::backward`].
    fn forward(&self, rng: &mut Pcg64, record: bool) -> Run {
        let v = self.action.state_len();
        let mut x = vec![0.0; v];
        self.prior.sample(rng, &mut x);
        let mut work = 0.0;
        let mut accepted = 0;
        let mut tape = Vec::new();
        for k in 1..=self.stages.stages {
            let (from, to) = (self.stage(k - 1), self.stage(k));
            let before = from.action(&x);
            let (y, logdet, scratch) = match self.blocks.get(k - 1) {
                Some(block) => {
                    let mut scratch = block.scratch(v);
                    let mut y = vec![0.0; v];
                    let logdet = block.forward(&x, &mut y, &mut scratch);
                    (y, logdet, Some(scratch))
                }
                None => (x.clone(), 0.0, None),
            };
            work += to.action(&y) - logdet - before;
            let mut moves = Vec::new();
            let mut z = y.clone();
            for _ in 0..self.stages.steps {
                let tape = match self.stages.kind {
                    MoveKind::Hmc => {
                        let (ok, positions) = self.leapfrog_trajectory(&to, &mut z, rng, record);
                        accepted += ok as usize;
                        MoveTape::Hmc(positions)
                    }
                    MoveKind::Langevin => {
                        let (heat, tape) = self.langevin_step(&to, &mut z, rng, record);
                        work += heat;
                        accepted += 1;
                        tape
                    }
                };
                if record {
                    moves.push(tape);
                }
            }
            if record {
                tape.push(StageTape {
                    input: std::mem::replace(&mut x, z),
                    scratch,
                    output: y,
                    moves,
                });
            } else {
                x = z;
            }
        }
        Run {
            config: x,
            work,
            accepted,
            tape,
        }
    }

    /// An HMC trajectory of `n_steps` leapfrog steps (unit mass) on `target` from `x`: momenta
    /// from `rng`, then one uniform for the accept test. Returns whether it was accepted and,
    /// with `record` and acceptance, the positions of its steps.
    fn leapfrog_trajectory(
        &self,
        target: &Tempered<'_>,
        x: &mut Vec<f64>,
        rng: &mut Pcg64,
        record: bool,
    ) -> (bool, Option<Vec<Vec<f64>>>) {
        let params = self.stages.move_params;
        let (eps, n) = (params.step_size, params.n_steps);
        let v = x.len();
        let mut p = vec![0.0; v];
        gaussian_fill(rng, &mut p);
        let u = uniform(rng);
        let h0 = target.action(x) + 0.5 * p.iter().map(|q| q * q).sum::<f64>();
        let mut y = x.clone();
        let mut g = vec![0.0; v];
        target.gradient(&y, &mut g);
        let mut positions = record.then(|| vec![y.clone()]);
        for _ in 0..n {
            p.iter_mut().zip(&g).for_each(|(p, g)| *p -= 0.5 * eps * g);
            y.iter_mut().zip(&p).for_each(|(y, p)| *y += eps * p);
            target.gradient(&y, &mut g);
            p.iter_mut().zip(&g).for_each(|(p, g)| *p -= 0.5 * eps * g);
            if let Some(ps) = positions.as_mut() {
                ps.push(y.clone());
            }
        }
        let h1 = target.action(&y) + 0.5 * p.iter().map(|q| q * q).sum::<f64>();
        // NaN energies are rejected.
        let accepted = u < (h0 - h1).exp();
        if accepted {
            *x = y;
            (true, positions)
        } else {
            (false, None)
        }
    }

    /// An unadjusted Langevin step on `target` from `x` (noise ξ from `rng`): returns its
    /// contribution Q to the work (module documentation) and, with `record`, its tape.
    fn langevin_step(
        &self,
        target: &Tempered<'_>,
        x: &mut Vec<f64>,
        rng: &mut Pcg64,
        record: bool,
    ) -> (f64, MoveTape) {
        let eps = self.stages.move_params.step_size;
        let v = x.len();
        let mut xi = vec![0.0; v];
        gaussian_fill(rng, &mut xi);
        let (mut gx, mut gy) = (vec![0.0; v], vec![0.0; v]);
        target.gradient(x, &mut gx);
        let noise = (2.0 * eps).sqrt();
        let y: Vec<f64> = (0..v).map(|i| x[i] - eps * gx[i] + noise * xi[i]).collect();
        target.gradient(&y, &mut gy);
        let r: Vec<f64> = (0..v)
            .map(|i| eps * (gx[i] + gy[i]) - noise * xi[i])
            .collect();
        let heat = target.action(&y) - target.action(x)
            + r.iter().map(|r| r * r).sum::<f64>() / (4.0 * eps)
            - 0.5 * xi.iter().map(|e| e * e).sum::<f64>();
        let before = std::mem::replace(x, y);
        let tape = match record {
            true => MoveTape::Langevin {
                x: before,
                y: x.clone(),
                r,
            },
            false => MoveTape::Hmc(None),
        };
        (heat, tape)
    }

    /// Backward through a Langevin step x → y with tape r: `a` = ∂W/∂y (from later terms) on
    /// entry, ∂W/∂x on return, including the step's own Q:
    ///   a_y = a + ∇U(y) + ε H(y) a_r,   a_x = a_y − ∇U(x) + ε H(x)(a_r − a_y),   a_r = r/2ε.
    fn langevin_backward(
        &self,
        target: &Tempered<'_>,
        (x, y, r): (&[f64], &[f64], &[f64]),
        a: &mut [f64],
    ) -> Result<(), AnnealError> {
        let eps = self.stages.move_params.step_size;
        let v = a.len();
        let a_r: Vec<f64> = r.iter().map(|r| r / (2.0 * eps)).collect();
        let (mut g, mut hv) = (vec![0.0; v], vec![0.0; v]);
        target.gradient(y, &mut g);
        hessian(target, y, &a_r, &mut hv)?;
        for i in 0..v {
            a[i] += g[i] + eps * hv[i];
        }
        target.gradient(x, &mut g);
        let diff: Vec<f64> = (0..v).map(|i| a_r[i] - a[i]).collect();
        hessian(target, x, &diff, &mut hv)?;
        for i in 0..v {
            a[i] += -g[i] + eps * hv[i];
        }
        Ok(())
    }

    /// Backward through an accepted leapfrog trajectory with positions `xs`: `a` = ∂W/∂x_n on
    /// entry, ∂W/∂x_0 on return (the momenta are noise; the final momentum is discarded).
    fn leapfrog_backward(
        &self,
        target: &Tempered<'_>,
        xs: &[Vec<f64>],
        a: &mut [f64],
    ) -> Result<(), AnnealError> {
        let eps = self.stages.move_params.step_size;
        let v = a.len();
        let mut ap = vec![0.0; v];
        let mut hv = vec![0.0; v];
        for i in (0..xs.len() - 1).rev() {
            // p_{i+1} = p_h − ε/2 ∇U(x_{i+1}).
            hessian(target, &xs[i + 1], &ap, &mut hv)?;
            a.iter_mut().zip(&hv).for_each(|(a, h)| *a -= 0.5 * eps * h);
            // x_{i+1} = x_i + ε p_h.
            ap.iter_mut().zip(a.iter()).for_each(|(p, a)| *p += eps * a);
            // p_h = p_i − ε/2 ∇U(x_i).
            hessian(target, &xs[i], &ap, &mut hv)?;
            a.iter_mut().zip(&hv).for_each(|(a, h)| *a -= 0.5 * eps * h);
        }
        Ok(())
    }

    /// Backward through a recorded trajectory: adds ∂W/∂θ of every block to `grads` (block by
    /// block, each of its block's length).
    fn backward(&self, tape: &mut [StageTape], grads: &mut [Vec<f64>]) -> Result<(), AnnealError> {
        let v = self.action.state_len();
        let mut a = vec![0.0; v];
        let mut g = vec![0.0; v];
        for k in (1..=self.stages.stages).rev() {
            let (from, to) = (self.stage(k - 1), self.stage(k));
            let stage = &mut tape[k - 1];
            for m in stage.moves.iter().rev() {
                match m {
                    MoveTape::Hmc(Some(xs)) => self.leapfrog_backward(&to, xs, &mut a)?,
                    MoveTape::Hmc(None) => {}
                    MoveTape::Langevin { x, y, r } => {
                        self.langevin_backward(&to, (x, y, r), &mut a)?
                    }
                }
            }
            to.gradient(&stage.output, &mut g);
            a.iter_mut().zip(&g).for_each(|(a, g)| *a += g);
            if let (Some(block), Some(scratch)) = (self.blocks.get(k - 1), stage.scratch.as_mut()) {
                let mut da = a.clone();
                block.backward(scratch, &mut da, -1.0, &mut grads[k - 1]);
                a = da;
            }
            from.gradient(&stage.input, &mut g);
            a.iter_mut().zip(&g).for_each(|(a, g)| *a -= g);
        }
        Ok(())
    }

    /// W of `n` trajectories on the streams (seed, base + 1 + i) and the gradient of their
    /// mean in every block's parameters (block by block), at fixed noise.
    pub fn work_gradient(
        &self,
        n: usize,
        seed: u64,
        base: u64,
    ) -> Result<WorkGradient, AnnealError> {
        let zero: Vec<Vec<f64>> = self
            .blocks
            .iter()
            .map(|b| vec![0.0; b.n_params()])
            .collect();
        // (W, accepted moves, ∂W/∂θ block by block) of each trajectory.
        type PerTrajectory = Result<(f64, usize, Vec<Vec<f64>>), AnnealError>;
        let per: Vec<PerTrajectory> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut rng = stream_rng(seed, base + 1 + i as u64);
                let mut run = self.forward(&mut rng, true);
                let mut grads = zero.clone();
                self.backward(&mut run.tape, &mut grads)?;
                Ok((run.work, run.accepted, grads))
            })
            .collect();
        let mut out = WorkGradient {
            works: Vec::with_capacity(n),
            grads: zero,
            move_acceptance: 0.0,
        };
        let mut accepted = 0;
        for (i, r) in per.into_iter().enumerate() {
            let (w, a, grads) = r?;
            if !w.is_finite() {
                return Err(AnnealError::NonFinite {
                    beta: 1.0,
                    particle: i,
                    value: w,
                });
            }
            out.works.push(w);
            accepted += a;
            for (t, g) in out.grads.iter_mut().zip(&grads) {
                t.iter_mut().zip(g).for_each(|(t, g)| *t += g / n as f64);
            }
        }
        out.move_acceptance =
            accepted as f64 / (n * self.stages.stages * self.stages.steps).max(1) as f64;
        Ok(out)
    }
}

/// The works of a batch of trajectories and the gradient of their mean.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkGradient {
    pub works: Vec<f64>,
    /// ∂ mean(W)/∂θ, block by block.
    pub grads: Vec<Vec<f64>>,
    pub move_acceptance: f64,
}

impl WorkGradient {
    /// The mean work.
    pub fn mean(&self) -> f64 {
        self.works.iter().sum::<f64>() / self.works.len().max(1) as f64
    }
}

/// out = H v of a stage's target, or the named error of an action without a Hessian.
fn hessian(
    target: &Tempered<'_>,
    x: &[f64],
    v: &[f64],
    out: &mut [f64],
) -> Result<(), AnnealError> {
    if target.hessian_vector(x, v, out) {
        Ok(())
    } else {
        Err(AnnealError::Unsupported(
            "snf: training backpropagates through HMC moves and needs the action's Hessian, \
             which this action does not provide (φ⁴ does)"
                .into(),
        ))
    }
}

impl TrajectorySource for Snf<'_> {
    fn field_len(&self) -> usize {
        self.action.field_len()
    }

    fn run(&self, n: usize, seed: u64, base: u64) -> Result<Trajectories, AnnealError> {
        let field = self.action.field_len();
        let runs: Vec<Run> = (0..n)
            .into_par_iter()
            .map(|i| self.forward(&mut stream_rng(seed, base + 1 + i as u64), false))
            .collect();
        let moves = (n * self.stages.stages * self.stages.steps).max(1) as f64;
        Ok(Trajectories {
            actions: runs.iter().map(|r| self.action.action(&r.config)).collect(),
            work: runs.iter().map(|r| r.work).collect(),
            move_acceptance: runs.iter().map(|r| r.accepted).sum::<usize>() as f64 / moves,
            configs: runs
                .into_iter()
                .flat_map(|r| r.config.into_iter().take(field))
                .collect(),
        })
    }
}

/// The blocks of an SNF and their optimisers, trained by E[W].
#[derive(Debug, Clone)]
pub struct SnfTrainer {
    blocks: TrainedFlows,
}

/// What one training step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnfStep {
    /// Mean and variance of W over the batch, before the step.
    pub mean_work: f64,
    pub work_variance: f64,
    /// Kish ESS/N of the batch's weights e^{−W}.
    pub ess: f64,
    /// Acceptance of the stages' HMC moves.
    pub move_acceptance: f64,
    /// Euclidean norm of the gradient of E[W] in all blocks' parameters.
    pub grad_norm: f64,
}

impl SnfTrainer {
    /// `stages` identity blocks of architecture `spec` (an annealing transport; its prior is
    /// not used), hidden layers from (seed, SNF_INIT_STREAM + k).
    pub fn new(spec: &FlowSpec, lattice: &Lattice, stages: usize, seed: u64) -> Self {
        Self {
            blocks: TrainedFlows::identity(spec, lattice, stages, seed, SNF_INIT_STREAM),
        }
    }

    /// Restores a checkpointed state (blocks' parameters and Adam moments, block after
    /// block).
    pub fn restore(
        self,
        params: &[f64],
        adam_m: &[f64],
        adam_v: &[f64],
        steps: u64,
    ) -> Result<Self, ParamCountError> {
        Ok(Self {
            blocks: self.blocks.restore(params, adam_m, adam_v, steps)?,
        })
    }

    pub fn blocks(&self) -> &[BijectionStack] {
        self.blocks.flows()
    }

    /// The blocks with their optimisers (what a checkpoint stores).
    pub fn trained(&self) -> &TrainedFlows {
        &self.blocks
    }

    pub fn blocks_mut(&mut self) -> &mut [BijectionStack] {
        self.blocks.flows_mut()
    }

    /// Training steps taken.
    pub fn steps(&self) -> u64 {
        self.blocks.steps()
    }

    /// All parameters, block after block.
    pub fn params(&self) -> Vec<f64> {
        self.blocks.params()
    }

    /// Adam's (m, v), block after block.
    pub fn adam_moments(&self) -> (Vec<f64>, Vec<f64>) {
        self.blocks.adam_moments()
    }

    /// One Adam step of rate `lr` on E[W] of `batch` trajectories on the streams of step
    /// [`SnfTrainer::steps`].
    pub fn train_step(
        &mut self,
        prior: &Prior,
        action: &dyn Action,
        stages: Stages,
        batch: usize,
        lr: f64,
        seed: u64,
    ) -> Result<SnfStep, AnnealError> {
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(AnnealError::LearningRate(lr));
        }
        let base = super::pass_base(SNF_TRAIN_STREAM, self.steps());
        let snf = Snf::new(prior, action, stages, self.blocks())?;
        let g = snf.work_gradient(batch, seed, base)?;
        let grad_norm = g.grads.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
        if !grad_norm.is_finite() {
            return Err(AnnealError::NonFiniteLoss {
                iteration: self.steps(),
                transition: 0,
                value: grad_norm,
            });
        }
        let n = g.works.len() as f64;
        let mean_work = g.works.iter().sum::<f64>() / n;
        let work_variance = g.works.iter().map(|w| (w - mean_work).powi(2)).sum::<f64>() / n;
        let log_w: Vec<f64> = g.works.iter().map(|w| -w).collect();
        self.blocks.step(&g.grads, lr);
        Ok(SnfStep {
            mean_work,
            work_variance,
            ess: lft_stats::kish_ess(&log_w),
            move_acceptance: g.move_acceptance,
            grad_norm,
        })
    }
}
