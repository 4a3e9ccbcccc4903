//! Step-size tuning during thermalisation (stochastic approximation on log ε).

/// Adapts ε towards a target acceptance while the trajectory length stays near τ.
///
/// After each trajectory with acceptance probability α = min(1, e^{−ΔH}):
/// log ε ← log ε + (α − α*) / (t + 10)^0.6, n = max(1, round(τ/ε)), so the trajectory length
/// nε is within ε/2 of τ (for ε ≤ 2τ).
/// The final ε is the exponential of the average log ε over the second half of the tuning
/// trajectories, which removes most of the stochastic jitter of the last updates.
#[derive(Debug, Clone)]
pub struct StepSizeTuner {
    target: f64,
    length: f64,
    log_eps: f64,
    t: usize,
    history: Vec<f64>,
}

impl StepSizeTuner {
    /// Starts from ε₀ with trajectory length τ and target acceptance α* ∈ (0, 1).
    pub fn new(initial_step: f64, length: f64, target: f64) -> Self {
        Self {
            target,
            length,
            log_eps: initial_step.ln(),
            t: 0,
            history: Vec::new(),
        }
    }

    /// Feeds one trajectory's ΔH; returns the new (ε, n).
    pub fn update(&mut self, delta_h: f64) -> (f64, usize) {
        let alpha = if delta_h.is_nan() {
            0.0
        } else {
            (-delta_h).exp().min(1.0)
        };
        self.t += 1;
        self.log_eps += (alpha - self.target) / (self.t as f64 + 10.0).powf(0.6);
        self.history.push(self.log_eps);
        self.current()
    }

    fn split(&self, log_eps: f64) -> (f64, usize) {
        let eps = log_eps.exp();
        (eps, ((self.length / eps).round() as usize).max(1))
    }

    /// (ε, n) now.
    pub fn current(&self) -> (f64, usize) {
        self.split(self.log_eps)
    }

    /// (ε, n) from the average log ε of the second half of the updates.
    pub fn finish(&self) -> (f64, usize) {
        if self.history.is_empty() {
            return self.current();
        }
        let half = &self.history[self.history.len() / 2..];
        self.split(half.iter().sum::<f64>() / half.len() as f64)
    }
}
