//! [`SpectralScale`] on lane batches: the layer is a linear map of each configuration by FFT,
//! so a lane batch is taken lane by lane through the one-configuration passes of
//! [`crate::spectral`] (the same numbers as one configuration at a time, bit for bit). It
//! exists so that stacks with a spectral layer keep the lane-batched couplings.

use crate::bijection::Cotangent;
use crate::lane_bijection::{LaneBijection, LaneLayerCache};
use crate::lane_conv::LaneConvScratch;
use crate::spectral::SpectralScale;
use lft_lattice::{LANES, Lanes, lane_gather, lane_scatter};

impl SpectralScale {
    /// The one-configuration backward step (sign 1: forward map, −1: inverse) of every lane,
    /// lanes in order, from the x-side input kept by `forward_lanes`.
    #[allow(clippy::too_many_arguments)]
    fn backward_each_lane(
        &self,
        params: &[f64],
        sign: f64,
        cache: &LaneLayerCache,
        g: &[Lanes],
        dlogdet: &Lanes,
        dparams: &mut [f64],
        out: &mut [Lanes],
    ) {
        let v = g.len();
        let (mut x, mut gl, mut o) = (vec![0.0; v], vec![0.0; v], vec![0.0; v]);
        for l in 0..LANES {
            lane_gather(&cache.input, l, &mut x);
            lane_gather(g, l, &mut gl);
            let up = Cotangent {
                dy: &gl,
                dlogdet: dlogdet[l],
            };
            self.backward_step(params, sign, &x, up, dparams, &mut o);
            lane_scatter(&o, l, out);
        }
    }
}

impl LaneBijection for SpectralScale {
    fn forward_lanes(
        &self,
        params: &[f64],
        x: &[Lanes],
        y: &mut [Lanes],
        cache: &mut LaneLayerCache,
        _: &mut LaneConvScratch,
    ) -> Lanes {
        let v = x.len();
        let (mut xl, mut yl) = (vec![0.0; v], vec![0.0; v]);
        for l in 0..LANES {
            lane_gather(x, l, &mut xl);
            self.apply(params, 1.0, &xl, &mut yl);
            lane_scatter(&yl, l, y);
        }
        cache.input.clear();
        cache.input.extend_from_slice(x);
        [self.log_det(params); LANES]
    }

    fn backward_lanes(
        &self,
        params: &[f64],
        cache: &LaneLayerCache,
        dy: &[Lanes],
        dlogdet: &Lanes,
        dparams: &mut [f64],
        dx: &mut [Lanes],
        _: &mut LaneConvScratch,
    ) {
        self.backward_each_lane(params, 1.0, cache, dy, dlogdet, dparams, dx);
    }

    fn inverse_backward_lanes(
        &self,
        params: &[f64],
        cache: &LaneLayerCache,
        dx: &[Lanes],
        dlogdet: &Lanes,
        dparams: &mut [f64],
        dy: &mut [Lanes],
        _: &mut LaneConvScratch,
    ) {
        self.backward_each_lane(params, -1.0, cache, dx, dlogdet, dparams, dy);
    }
}
