//! [`ConvNet`] on lane batches: the forward and backward passes of [`crate::net`] for
//! [`LANES`](lft_lattice::LANES) configurations at once, through [`crate::lane_conv`] (or, for
//! float32 nets, [`crate::lane_net32`]).

use crate::conv::KernelShifts;
use crate::lane_conv::LaneConvScratch;
use crate::net::ConvNet;
use crate::precision::Precision;
use lft_lattice::Lanes;

/// Intermediate values of one lane forward pass, kept for its backward pass.
#[derive(Debug, Clone, Default)]
pub struct LaneNetCache {
    /// Input of conv j, `[c_in_j, V]`.
    inputs: Vec<Vec<Lanes>>,
    /// Output of conv j before its activation.
    pre: Vec<Vec<Lanes>>,
    /// Network output, `[c_last, V]`.
    pub output: Vec<Lanes>,
    /// The intermediate values of a float32 pass ([`crate::lane_net32`]).
    pub(crate) pairs: crate::lane_net32::LaneNet32Cache,
}

/// A lane batch as one flat slice of values.
fn flat(x: &[Lanes]) -> &[f64] {
    x.as_flattened()
}

impl ConvNet {
    /// Forward pass of a lane batch; the output is `cache.output`.
    pub fn forward_lanes(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        input: &[Lanes],
        cache: &mut LaneNetCache,
        scratch: &mut LaneConvScratch,
    ) {
        if self.precision == Precision::F32 {
            let (pairs, out) = (&mut cache.pairs, &mut cache.output);
            return self.forward_lanes_f32(shifts, params, input, pairs, scratch, out);
        }
        let v = self.volume;
        let n = self.convs.len();
        cache.inputs.resize(n, Vec::new());
        cache.pre.resize(n, Vec::new());
        cache.inputs[0].clear();
        cache.inputs[0].extend_from_slice(input);
        for (j, conv) in self.convs.iter().enumerate() {
            let p = &params[self.offsets[j]..self.offsets[j] + conv.n_params()];
            let mut pre = std::mem::take(&mut cache.pre[j]);
            pre.resize(conv.c_out * v, [0.0; lft_lattice::LANES]);
            conv.forward_lanes(shifts, p, &cache.inputs[j], &mut pre, scratch);
            let act = if j + 1 == n { self.last } else { self.hidden };
            let out = if j + 1 == n {
                &mut cache.output
            } else {
                &mut cache.inputs[j + 1]
            };
            out.resize(pre.len(), [0.0; lft_lattice::LANES]);
            act.apply_all(flat(&pre), out.as_flattened_mut());
            cache.pre[j] = pre;
        }
    }

    /// Backward pass of a lane batch: g = ∂L/∂output; adds ∂L/∂params (summed over the lanes)
    /// into `dparams` and writes ∂L/∂input into `d_input`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_lanes(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        cache: &LaneNetCache,
        g_out: &[Lanes],
        dparams: &mut [f64],
        d_input: &mut [Lanes],
        scratch: &mut LaneConvScratch,
    ) {
        if self.precision == Precision::F32 {
            let pairs = &cache.pairs;
            return self
                .backward_lanes_f32(shifts, params, pairs, g_out, dparams, d_input, scratch);
        }
        let n = self.convs.len();
        let through = |g: &mut [Lanes], pre: &[Lanes], out: &[Lanes], act: crate::Activation| {
            act.scale_by_derivative(g.as_flattened_mut(), flat(pre), flat(out));
        };
        let mut g = g_out.to_vec();
        through(&mut g, &cache.pre[n - 1], &cache.output, self.last);
        for j in (0..n).rev() {
            let conv = &self.convs[j];
            let range = self.offsets[j]..self.offsets[j] + conv.n_params();
            let p = &params[range.clone()];
            if j == 0 {
                let inputs = &cache.inputs[0];
                let dp = &mut dparams[range];
                conv.backward_lanes(shifts, p, inputs, &g, dp, Some(d_input), scratch);
                break;
            }
            let mut dh = vec![[0.0; lft_lattice::LANES]; conv.c_in * self.volume];
            let dp = &mut dparams[range];
            conv.backward_lanes(shifts, p, &cache.inputs[j], &g, dp, Some(&mut dh), scratch);
            through(&mut dh, &cache.pre[j - 1], &cache.inputs[j], self.hidden);
            g = dh;
        }
    }
}
