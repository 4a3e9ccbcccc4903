//! [`ConvNet`] in float32 ([`Precision::F32`]): the passes of [`crate::lane_net`] through the
//! float32 convolutions of [`crate::lane_conv32`], with float64 lane batches in and out. One
//! configuration goes through the same lane kernels in lane 0 (the other lanes zero), so a
//! configuration gets the very same conditioner output whether it travels alone or in a lane
//! batch: forward and inverse passes of a float32 flow agree to the coupling's own rounding.
//!
//! [`Precision::F32`]: crate::Precision::F32

use crate::conv::KernelShifts;
use crate::lane_conv::LaneConvScratch;
use crate::lane_conv32::{PairLanes, pairs};
use crate::net::ConvNet;
use lft_lattice::{LANES, Lanes, lane_gather, lane_scatter};

/// Intermediate values of one float32 pass, in pair layout `[pairs(c), V]`.
#[derive(Debug, Clone, Default)]
pub struct LaneNet32Cache {
    /// Input of conv j.
    inputs: Vec<Vec<PairLanes>>,
    /// Output of conv j before its activation.
    pre: Vec<Vec<PairLanes>>,
    /// Network output.
    output: Vec<PairLanes>,
}

/// `[c, V]` float64 lanes into pair layout `out` `[pairs(c), V]` (float32, padding zero).
fn to_pairs(x: &[Lanes], c: usize, v: usize, out: &mut Vec<PairLanes>) {
    out.clear();
    out.resize(pairs(c) * v, [0.0; 2 * LANES]);
    for (ch, rows) in x.chunks_exact(v).enumerate() {
        for (pair, lanes) in out[(ch / 2) * v..][..v].iter_mut().zip(rows) {
            for (p, &l) in pair[(ch % 2) * LANES..][..LANES].iter_mut().zip(lanes) {
                *p = l as f32;
            }
        }
    }
}

/// The first `c` channels of pair layout `p` as float64 lanes `[c, V]`.
fn from_pairs(p: &[PairLanes], c: usize, v: usize, out: &mut [Lanes]) {
    for (ch, rows) in out.chunks_exact_mut(v).take(c).enumerate() {
        for (lanes, pair) in rows.iter_mut().zip(&p[(ch / 2) * v..][..v]) {
            for (l, &q) in lanes.iter_mut().zip(&pair[(ch % 2) * LANES..][..LANES]) {
                *l = q as f64;
            }
        }
    }
}

impl ConvNet {
    /// The float32 forward pass of a lane batch `input` `[c_in, V]`, keeping its intermediate
    /// values in `c`; writes the output `[c_out, V]` (float64) into `output`.
    pub(crate) fn forward_lanes_f32(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        input: &[Lanes],
        c: &mut LaneNet32Cache,
        scratch: &mut LaneConvScratch,
        output: &mut Vec<Lanes>,
    ) {
        let v = self.volume;
        let n = self.convs.len();
        c.inputs.resize(n, Vec::new());
        c.pre.resize(n, Vec::new());
        to_pairs(input, self.convs[0].c_in, v, &mut c.inputs[0]);
        for (j, conv) in self.convs.iter().enumerate() {
            let p = &params[self.offsets[j]..self.offsets[j] + conv.n_params()];
            let mut pre = std::mem::take(&mut c.pre[j]);
            pre.resize(pairs(conv.c_out) * v, [0.0; 2 * LANES]);
            conv.forward_lanes_f32(shifts, p, &c.inputs[j], &mut pre, &mut scratch.f32);
            let act = if j + 1 == n { self.last } else { self.hidden };
            let out = if j + 1 == n {
                &mut c.output
            } else {
                &mut c.inputs[j + 1]
            };
            out.resize(pre.len(), [0.0; 2 * LANES]);
            act.apply_all(pre.as_flattened(), out.as_flattened_mut());
            c.pre[j] = pre;
        }
        let c_out = self.out_channels();
        output.resize(c_out * v, [0.0; LANES]);
        from_pairs(&c.output, c_out, v, output);
    }

    /// The float32 backward pass of a lane batch: g = ∂L/∂output `[c_out, V]` (float64);
    /// adds ∂L/∂params into `dparams` and writes ∂L/∂input `[c_in, V]` into `d_input`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_lanes_f32(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        c: &LaneNet32Cache,
        g_out: &[Lanes],
        dparams: &mut [f64],
        d_input: &mut [Lanes],
        scratch: &mut LaneConvScratch,
    ) {
        let (v, n) = (self.volume, self.convs.len());
        let mut g = Vec::new();
        to_pairs(g_out, self.out_channels(), v, &mut g);
        self.last.scale_by_derivative(
            g.as_flattened_mut(),
            c.pre[n - 1].as_flattened(),
            c.output.as_flattened(),
        );
        for j in (0..n).rev() {
            let conv = &self.convs[j];
            let range = self.offsets[j]..self.offsets[j] + conv.n_params();
            let p = &params[range.clone()];
            let mut dh = vec![[0.0f32; 2 * LANES]; pairs(conv.c_in) * v];
            let dp = &mut dparams[range];
            conv.backward_lanes_f32(
                shifts,
                p,
                &c.inputs[j],
                &g,
                dp,
                Some(&mut dh),
                &mut scratch.f32,
            );
            if j == 0 {
                from_pairs(&dh, conv.c_in, v, d_input);
                break;
            }
            self.hidden.scale_by_derivative(
                dh.as_flattened_mut(),
                c.pre[j - 1].as_flattened(),
                c.inputs[j].as_flattened(),
            );
            g = dh;
        }
    }

    /// The float32 forward pass of one configuration `input` `[c_in, V]` (lane 0 of a lane
    /// batch); the output `[c_out, V]` is written into `output`.
    pub(crate) fn forward_one_f32(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        input: &[f64],
        cache: &mut LaneNet32Cache,
        scratch: &mut LaneConvScratch,
        output: &mut Vec<f64>,
    ) {
        let v = self.volume;
        let lanes = in_lane_zero(input, v);
        let mut out = Vec::new();
        self.forward_lanes_f32(shifts, params, &lanes, cache, scratch, &mut out);
        output.resize(out.len(), 0.0);
        out_of_lane_zero(&out, v, output);
    }

    /// The float32 backward pass of the last [`ConvNet::forward_one_f32`] in `cache`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_one_f32(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        cache: &LaneNet32Cache,
        g_out: &[f64],
        dparams: &mut [f64],
        d_input: Option<&mut [f64]>,
        scratch: &mut LaneConvScratch,
    ) {
        let v = self.volume;
        let g = in_lane_zero(g_out, v);
        let mut d = vec![[0.0; LANES]; self.convs[0].c_in * v];
        self.backward_lanes_f32(shifts, params, cache, &g, dparams, &mut d, scratch);
        if let Some(d_input) = d_input {
            out_of_lane_zero(&d, v, d_input);
        }
    }
}

/// `[c, V]` values as lane 0 of a lane batch (the other lanes zero).
fn in_lane_zero(x: &[f64], v: usize) -> Vec<Lanes> {
    let mut lanes = vec![[0.0; LANES]; x.len()];
    for (rows, src) in lanes.chunks_exact_mut(v).zip(x.chunks_exact(v)) {
        lane_scatter(src, 0, rows);
    }
    lanes
}

/// Lane 0 of a lane batch `[c, V]` into `out`.
fn out_of_lane_zero(lanes: &[Lanes], v: usize, out: &mut [f64]) {
    for (rows, dst) in lanes.chunks_exact(v).zip(out.chunks_exact_mut(v)) {
        lane_gather(rows, 0, dst);
    }
}
