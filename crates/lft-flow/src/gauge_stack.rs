//! The stack of a gauge-equivariant flow of 2D U(1): optionally the plaquette-basis layer
//! ([`crate::gauge_plaquette_basis`]) next to the prior, then `layers` couplings whose masks
//! cycle through both link directions and the four stripe offsets ([`crate::gauge_mask`]),
//! each with a circle transform of its active plaquettes.

use crate::activation::Activation;
use crate::circle::CircleTransform;
use crate::circle_ncp::NcpMixture;
use crate::circle_smooth::SmoothMixture;
use crate::circle_spline::CircularSpline;
use crate::conv::KernelShifts;
use crate::gauge_coupling::GaugeCoupling;
use crate::gauge_mask::{GaugeMask, MaskOrder};
use crate::gauge_plaquette_basis::PlaquetteBasis;
use crate::net::ConvNet;
use crate::stack::BijectionStack;
use lft_lattice::{Lattice, Pcg64};
use std::sync::Arc;

/// The architecture of a gauge stack, as [`crate::FlowSpec`] resolves it.
pub(crate) struct GaugeStack {
    pub layers: usize,
    /// The conditioners' channels, [features, hidden…, parameters per plaquette].
    pub channels: Vec<usize>,
    pub activation: Activation,
    pub final_activation: Activation,
    pub transform: CircleSpec,
    pub loops: bool,
    pub masks: MaskOrder,
    /// Start with the plaquette-basis layer, a circular spline of this many bins (its
    /// parameters at zero until [`crate::FlowSpec::init_plaquette_basis`] sets them).
    pub plaquette_basis: Option<usize>,
}

impl GaugeStack {
    /// The stack, every conditioner drawn from `rng` with its last layer scaled by
    /// `last_scale`. Panics on a lattice the masks do not fit: configs are checked by
    /// [`crate::gauge_mask::check_lattice`] before they get here.
    pub(crate) fn build(
        &self,
        lattice: &Lattice,
        shifts: &Arc<KernelShifts>,
        rng: &mut Pcg64,
        last_scale: f64,
    ) -> BijectionStack {
        let mut stack = BijectionStack::new();
        if let Some(bins) = self.plaquette_basis {
            let layer = PlaquetteBasis::new(lattice, basis_transform(bins))
                .unwrap_or_else(|e| panic!("{e}"));
            let n = crate::Bijection::n_params(&layer);
            stack.push(Arc::new(layer), vec![0.0; n]);
        }
        for l in 0..self.layers {
            let mask =
                GaugeMask::of_layer(lattice, l, self.masks).unwrap_or_else(|e| panic!("{e}"));
            let net = ConvNet::new(
                &self.channels,
                self.activation,
                self.final_activation,
                shifts,
                lattice.volume(),
            );
            let params = net.init_params(shifts, rng, last_scale);
            self.push_layer(&mut stack, lattice, mask, net, shifts.clone(), params);
        }
        stack
    }

    /// Appends the coupling of `mask` with the circle transform of this stack.
    fn push_layer(
        &self,
        stack: &mut BijectionStack,
        lattice: &Lattice,
        mask: GaugeMask,
        net: ConvNet,
        sh: Arc<KernelShifts>,
        params: Vec<f64>,
    ) {
        let loops = self.loops;
        match self.transform {
            CircleSpec::Ncp { components } => {
                let t = CircleTransform::new(NcpMixture { components });
                let layer = GaugeCoupling::new(lattice, mask, net, sh, t, loops);
                stack.push(Arc::new(layer), params);
            }
            CircleSpec::Spline { bins } => {
                let t = CircleTransform::new(CircularSpline::new(bins));
                let layer = GaugeCoupling::new(lattice, mask, net, sh, t, loops);
                stack.push(Arc::new(layer), params);
            }
            CircleSpec::SmoothMixture { components } => {
                let t = CircleTransform::new(SmoothMixture::new(components));
                let layer = GaugeCoupling::new(lattice, mask, net, sh, t, loops);
                stack.push(Arc::new(layer), params);
            }
        }
    }
}

/// Smallest bin size and knot derivative of the plaquette-basis spline.
pub const BASIS_FLOOR: f64 = 1e-8;

/// The circle transform of the plaquette-basis layer: a circular spline of `bins` bins whose
/// floors ([`BASIS_FLOOR`]) let its tail bins follow a peaked marginal.
pub fn basis_transform(bins: usize) -> CircleTransform<CircularSpline> {
    CircleTransform::new(CircularSpline::with_floor(bins, BASIS_FLOOR))
}

/// The circle transform of a gauge-equivariant coupling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircleSpec {
    /// A mixture of `components` non-compact projections ([`crate::circle_ncp`]).
    Ncp { components: usize },
    /// A circular rational-quadratic spline of `bins` bins ([`crate::circle_spline`]).
    Spline { bins: usize },
    /// A C^∞ mixture of `components` smooth-ramp bumps ([`crate::circle_smooth`]).
    SmoothMixture { components: usize },
}

impl CircleSpec {
    /// "ncp", "circular_spline" or "smooth_mixture", as in the config.
    pub fn name(&self) -> &'static str {
        match self {
            CircleSpec::Ncp { .. } => "ncp",
            CircleSpec::Spline { .. } => "circular_spline",
            CircleSpec::SmoothMixture { .. } => "smooth_mixture",
        }
    }

    /// Parameters per active plaquette (the rotation included): 2K + 1, 3K + 1 and 3K + 1.
    pub fn params_per_site(&self) -> usize {
        use crate::circle::CircleMap;
        1 + match *self {
            CircleSpec::Ncp { components } => NcpMixture { components }.core_params(),
            CircleSpec::Spline { bins } => CircularSpline::new(bins).core_params(),
            CircleSpec::SmoothMixture { components } => {
                SmoothMixture::new(components).core_params()
            }
        }
    }
}
