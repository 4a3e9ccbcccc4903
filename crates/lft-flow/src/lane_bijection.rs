//! The seam of lane-batched layers: [`LaneBijection`], a layer's forward map and its backward
//! pass for [`LANES`](lft_lattice::LANES) configurations at once (`[V]` of [`Lanes`]), and the
//! [`LaneLayerCache`] a pass keeps. The forward direction is batched, with its backward pass
//! and the backward pass of the inverse on the same caches (what the path gradient needs);
//! [`crate::Bijection::lanes`] says whether a layer offers it.

use crate::lane_conv::LaneConvScratch;
use crate::lane_net::LaneNetCache;
use lft_lattice::Lanes;

/// What a lane forward pass keeps for its backward pass (one per layer and thread).
#[derive(Debug, Clone, Default)]
pub struct LaneLayerCache {
    pub(crate) input: Vec<Lanes>,
    pub(crate) frozen: Vec<Lanes>,
    pub(crate) net: LaneNetCache,
    pub(crate) net_mirror: LaneNetCache,
    /// The (symmetrised) conditioner output `[channels, V]`.
    pub(crate) st: Vec<Lanes>,
}

/// A layer's forward map and its backward pass on lane batches (see
/// [`crate::Bijection::lanes`]).
pub trait LaneBijection: Send + Sync {
    /// y = f(x) for every lane; returns log|det ∂y/∂x| of every lane.
    fn forward_lanes(
        &self,
        params: &[f64],
        x: &[Lanes],
        y: &mut [Lanes],
        cache: &mut LaneLayerCache,
        ws: &mut LaneConvScratch,
    ) -> Lanes;

    /// Backward through the last `forward_lanes` in `cache`, with g = ∂L/∂y and γ_l =
    /// ∂L/∂(log det of lane l): writes ∂L/∂x into `dx` and adds ∂L/∂θ, summed over the lanes.
    #[allow(clippy::too_many_arguments)]
    fn backward_lanes(
        &self,
        params: &[f64],
        cache: &LaneLayerCache,
        dy: &[Lanes],
        dlogdet: &Lanes,
        dparams: &mut [f64],
        dx: &mut [Lanes],
        ws: &mut LaneConvScratch,
    );

    /// Backward through the inverse x = f⁻¹(y) on the caches of the last `forward_lanes` (from
    /// that x: the caches of a forward pass serve the inverse from y = f(x), see
    /// [`crate::Bijection`]), with g = ∂L/∂x and γ_l = ∂L/∂(log det of lane l): writes ∂L/∂y
    /// into `dy` and adds ∂L/∂θ, summed over the lanes.
    #[allow(clippy::too_many_arguments)]
    fn inverse_backward_lanes(
        &self,
        params: &[f64],
        cache: &LaneLayerCache,
        dx: &[Lanes],
        dlogdet: &Lanes,
        dparams: &mut [f64],
        dy: &mut [Lanes],
        ws: &mut LaneConvScratch,
    );
}
