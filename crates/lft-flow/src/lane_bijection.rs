//! The seam of lane-batched layers: [`LaneBijection`], a layer's forward map and its backward
//! pass for [`LANES`](lft_lattice::LANES) configurations at once (`[V]` of [`Lanes`]), and the
//! [`LaneLayerCache`] a pass keeps. Only the direction a transport needs (forward and its
//! backward) is batched; [`crate::Bijection::lanes`] says whether a layer offers it.

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
}
