//! Heat bath with overrelaxation for compact U(1) gauge fields, the standard local algorithm
//! (Creutz; Adler; Brown and Woch). With A the staple sum of link l (lft-lattice's
//! `gauge::staple_sum`), the link's local weight is e^{β |A| cos(θ_l + arg A)}:
//!
//! - **heat bath**: θ_l ← ψ − arg A with ψ drawn from the von Mises density
//!   e^{κ cos ψ}/(2π I_0(κ)), κ = β|A| ([`von_mises`]): an exact draw from the link's
//!   conditional distribution, so detailed balance holds link by link;
//! - **overrelaxation**: θ_l ← −θ_l − 2 arg A, the reflection that keeps cos(θ_l + arg A) and
//!   so the action: microcanonical, its own inverse, hence exact; it moves the field far at no
//!   cost and shortens autocorrelations.
//!
//! One step of a chain ([`HeatbathChain::sweep`]) is a heat-bath sweep over every link (μ
//! first, then the sites in order) followed by `overrelaxation` overrelaxation sweeps. Angles
//! stay in [−π, π).

use crate::{Chain, Recorder, RunSummary, Sampler, Start, Step};
use lft_action::{Action, U1Wilson};
use lft_lattice::gauge::{staple_sum, wrap_link};
use lft_lattice::{Pcg64, RngState, stream_rng, uniform};
use lft_records::{ChainMeta, ChainSettings, SamplerKind, StoredRow};
use std::f64::consts::PI;
use std::time::Instant;

/// A draw ψ ∈ [−π, π] from the von Mises density e^{κ cos ψ}/(2π I_0(κ)), κ ≥ 0, by the
/// rejection method of Best and Fisher (1979) from a wrapped Cauchy envelope (uniform for
/// κ < 10⁻⁸, where e^{κ cos ψ} is 1 to rounding).
pub fn von_mises(rng: &mut Pcg64, kappa: f64) -> f64 {
    if kappa < 1e-8 {
        return PI * (2.0 * uniform(rng) - 1.0);
    }
    // s = (1 + ρ²)/(2ρ), with ρ the envelope's concentration; its small-κ limit 1/κ + κ
    // avoids the cancellation in r − √(2r).
    let s = if kappa < 1e-5 {
        1.0 / kappa + kappa
    } else {
        let r = 1.0 + (1.0 + 4.0 * kappa * kappa).sqrt();
        let rho = (r - (2.0 * r).sqrt()) / (2.0 * kappa);
        (1.0 + rho * rho) / (2.0 * rho)
    };
    let w = loop {
        let z = (PI * uniform(rng)).cos();
        let w = (1.0 + s * z) / (s + z);
        let y = kappa * (s - w);
        let v = uniform(rng);
        if y * (2.0 - y) - v >= 0.0 || (y / v).ln() + 1.0 - y >= 0.0 {
            break w;
        }
    };
    let angle = w.clamp(-1.0, 1.0).acos();
    if uniform(rng) < 0.5 { -angle } else { angle }
}

/// One heat-bath chain of a U(1) gauge field: its angles, generator and action.
#[derive(Debug, Clone)]
pub struct HeatbathChain<'a> {
    action: &'a U1Wilson,
    theta: Vec<f64>,
    rng: Pcg64,
    overrelaxation: usize,
}

impl<'a> HeatbathChain<'a> {
    /// A chain from a cold (θ = 0) or hot (uniform) start, drawing from `rng`.
    pub fn new(action: &'a U1Wilson, start: Start, mut rng: Pcg64, overrelaxation: usize) -> Self {
        let mut theta = vec![0.0; action.state_len()];
        if start == Start::Hot {
            action.hot_start(&mut rng, &mut theta);
        }
        Self::resume(action, theta, rng, overrelaxation)
    }

    /// A chain continuing from stored angles and generator state.
    pub fn resume(
        action: &'a U1Wilson,
        theta: Vec<f64>,
        rng: Pcg64,
        overrelaxation: usize,
    ) -> Self {
        assert_eq!(theta.len(), action.state_len(), "angles of every link");
        Self {
            action,
            theta,
            rng,
            overrelaxation,
        }
    }

    pub fn field(&self) -> &[f64] {
        &self.theta
    }

    pub fn rng_state(&self) -> RngState {
        RngState::of(&self.rng)
    }

    /// (arg A, β|A|) of link `l` = (μ, x).
    fn local(&self, mu: usize, x: usize) -> (f64, f64) {
        let (re, im) = staple_sum(self.action.lattice(), &self.theta, mu, x);
        (im.atan2(re), self.action.beta() * re.hypot(im))
    }

    /// One step: a heat-bath sweep, then the overrelaxation sweeps.
    pub fn sweep(&mut self) {
        let (d, v) = (self.action.lattice().dim(), self.action.lattice().volume());
        for mu in 0..d {
            for x in 0..v {
                let (phase, kappa) = self.local(mu, x);
                let psi = von_mises(&mut self.rng, kappa);
                self.theta[mu * v + x] = wrap_link(psi - phase);
            }
        }
        for _ in 0..self.overrelaxation {
            for mu in 0..d {
                for x in 0..v {
                    let (phase, _) = self.local(mu, x);
                    let l = mu * v + x;
                    self.theta[l] = wrap_link(-self.theta[l] - 2.0 * phase);
                }
            }
        }
    }
}

impl Chain for HeatbathChain<'_> {
    type Error = std::convert::Infallible;

    /// One sweep (heat bath and overrelaxation), recording S after it.
    fn advance(&mut self, _max: usize, out: &mut Recorder<'_>) -> Result<(), Self::Error> {
        self.sweep();
        out.record(Step {
            config: &self.theta,
            values: &[self.action.action(&self.theta)],
            accepted: true,
            rng_after: self.rng_state(),
            delta_h: None,
            inner: (0, 0),
        });
        Ok(())
    }

    fn settings(&self) -> ChainSettings {
        ChainSettings::Heatbath {
            overrelaxation: self.overrelaxation as u64,
        }
    }

    fn start_state(&self) -> (Vec<f64>, RngState) {
        (self.theta.clone(), self.rng_state())
    }
}

/// Heat-bath chains of a U(1) gauge field: chain c starts from `start` with the stream (seed,
/// c), runs `thermalization` sweeps, then produces one configuration per sweep (stored as
/// sampler "heatbath").
pub struct HeatbathSampler<'a> {
    pub action: &'a U1Wilson,
    /// Overrelaxation sweeps after each heat-bath sweep.
    pub overrelaxation: usize,
    pub start: Start,
    pub seed: u64,
    pub thermalization: usize,
}

impl<'a> Sampler for HeatbathSampler<'a> {
    type Chain = HeatbathChain<'a>;

    fn kind(&self) -> SamplerKind {
        SamplerKind::Heatbath
    }

    fn volume(&self) -> usize {
        self.action.field_len()
    }

    fn fresh(&self, index: u64) -> HeatbathChain<'a> {
        let rng = stream_rng(self.seed, index);
        HeatbathChain::new(self.action, self.start, rng, self.overrelaxation)
    }

    fn thermalization_steps(&self) -> usize {
        self.thermalization
    }

    fn thermalize(
        &self,
        chains: &mut [HeatbathChain<'a>],
    ) -> Result<Option<RunSummary>, (usize, std::convert::Infallible)> {
        use rayon::prelude::*;
        if self.thermalization == 0 {
            return Ok(None);
        }
        let start = Instant::now();
        chains.par_iter_mut().for_each(|chain| {
            for _ in 0..self.thermalization {
                chain.sweep();
            }
        });
        let steps = (self.thermalization * chains.len()) as u64;
        Ok(Some(RunSummary {
            steps,
            accepted: steps,
            elapsed: start.elapsed(),
            ..RunSummary::default()
        }))
    }

    fn resume(
        &self,
        meta: &ChainMeta,
        last: Option<&StoredRow>,
    ) -> Result<HeatbathChain<'a>, String> {
        let ChainSettings::Heatbath { overrelaxation } = meta.settings else {
            return Err("not a heat-bath chain".into());
        };
        let (theta, rng) = match last {
            Some(row) => (row.config.clone(), row.rng),
            None => (meta.start_config.clone(), meta.start_rng),
        };
        if theta.len() != self.volume() {
            return Err("the stored state does not fit the lattice".into());
        }
        if rng.as_counter().is_some() {
            return Err("its generator state is not a heat-bath chain's".into());
        }
        Ok(HeatbathChain::resume(
            self.action,
            theta,
            rng.restore(),
            overrelaxation as usize,
        ))
    }
}
