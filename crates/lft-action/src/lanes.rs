//! Actions over lane-interleaved batches ([`lft_lattice::Lanes`]): [`LANES`] configurations
//! at once, each lane bit-identical to the one-configuration `Action` methods, so that a
//! sampler may batch its chains without changing a single number.

use lft_lattice::Lanes;

/// An action evaluated on `[V][LANES]` batches (see `Action::lanes`).
pub trait LaneAction: Sync {
    /// S of every lane: `out[l] = Action::action(lane l)` bit for bit.
    fn lane_action(&self, phi: &[Lanes]) -> Lanes;

    /// `grad[x][l] = a ∂S/∂φ_x + b φ_x` of every lane, bit-identical to
    /// `Action::scaled_gradient` on that lane.
    fn lane_scaled_gradient(&self, phi: &[Lanes], grad: &mut [Lanes], a: f64, b: f64);

    /// `grad[x][l] = a ∂S/∂φ_x + b ∂S₀/∂φ_x` (S₀ the free field of mass² `free_m2`) of every
    /// lane, bit-identical to `Action::free_scaled_gradient` on that lane.
    fn lane_free_scaled_gradient(
        &self,
        phi: &[Lanes],
        grad: &mut [Lanes],
        a: f64,
        b: f64,
        free_m2: f64,
    );
}
