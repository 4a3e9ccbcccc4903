//! The stack of a gauge-equivariant flow of 2D U(1): `layers` couplings whose masks cycle
//! through both link directions and the four stripe offsets ([`crate::gauge_mask`]), each
//! with a circle transform of its active plaquettes.

use crate::circle::CircleTransform;
use crate::circle_ncp::NcpMixture;
use crate::circle_smooth::SmoothMixture;
use crate::circle_spline::CircularSpline;
use crate::conv::KernelShifts;
use crate::gauge_coupling::GaugeCoupling;
use crate::gauge_mask::GaugeMask;
use crate::net::ConvNet;
use crate::spec::{CircleSpec, FlowSpec};
use crate::stack::BijectionStack;
use lft_lattice::{Lattice, Pcg64};
use std::sync::Arc;

/// The gauge stack of `spec` (its coupling is [`crate::CouplingSpec::Gauge`] with `transform`
/// and `loops`). Panics on a lattice the masks do not fit: configs are checked by
/// [`crate::gauge_mask::check_lattice`] before they get here.
pub(crate) fn build(
    spec: &FlowSpec,
    lattice: &Lattice,
    shifts: &Arc<KernelShifts>,
    transform: CircleSpec,
    loops: bool,
    rng: &mut Pcg64,
    last_scale: f64,
) -> BijectionStack {
    let channels = spec.conditioner_channels();
    let mut stack = BijectionStack::new();
    for l in 0..spec.layers {
        let mask = GaugeMask::of_layer(lattice, l).unwrap_or_else(|e| panic!("{e}"));
        let net = ConvNet::new(
            &channels,
            spec.activation,
            spec.final_activation,
            shifts,
            lattice.volume(),
        );
        let params = net.init_params(shifts, rng, last_scale);
        let sh = shifts.clone();
        match transform {
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
    stack
}
