//! [`RoundTrip`]: the numerical round trip of one flow configuration, max_x |f⁻¹(f(z))_x − z_x|
//! and the change of log q through the inverse (see [`crate::diagnostics`] and the samplers'
//! check).

/// The default tolerance of [`RoundTrip::exceeds`]: f64 flows round-trip to about 1e-13.
pub const ROUND_TRIP_TOLERANCE: f64 = 1e-6;

/// The tolerance for flows with integrated layers (continuous flows), whose inverse is another
/// discretisation of the same ODE and round-trips to the solver's accuracy, O(h⁴) (typically
/// 10⁻⁴–10⁻³ at 12–16 RK4 steps): above it, as above [`crate::integrator_error::INTEGRATOR_TOLERANCE`]
/// in log q, the integration is under-resolved. The weights' bias is measured apart
/// ([`crate::IntegratorError`]).
pub const INTEGRATED_ROUND_TRIP_TOLERANCE: f64 = 1e-2;

/// The numerical round trip of one configuration: φ = f(z) drawn with log q, then
/// z′ = f⁻¹(φ) with log q′.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RoundTrip {
    /// max_x |z′_x − z_x| (∞ if anything is not finite).
    pub latent_error: f64,
    /// |log q′ − log q| / max(1, |log q|) (∞ if not finite).
    pub log_q_error: f64,
}

impl RoundTrip {
    /// The round trip from the latent draw `z` with `log_q` to `z_back` with `log_q_back`.
    pub fn between(z: &[f64], z_back: &[f64], log_q: f64, log_q_back: f64) -> Self {
        let finite_or_inf = |x: f64| if x.is_finite() { x } else { f64::INFINITY };
        let latent_error = z
            .iter()
            .zip(z_back)
            .map(|(a, b)| finite_or_inf((a - b).abs()))
            .fold(0.0, f64::max);
        let log_q_error = finite_or_inf((log_q_back - log_q).abs() / log_q.abs().max(1.0));
        Self {
            latent_error,
            log_q_error,
        }
    }

    /// The larger error of each kind.
    pub fn worst(self, other: RoundTrip) -> RoundTrip {
        RoundTrip {
            latent_error: self.latent_error.max(other.latent_error),
            log_q_error: self.log_q_error.max(other.log_q_error),
        }
    }

    /// Whether either error is above `tolerance`.
    pub fn exceeds(&self, tolerance: f64) -> bool {
        !(self.latent_error <= tolerance && self.log_q_error <= tolerance)
    }
}
