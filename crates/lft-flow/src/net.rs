//! A stack of periodic convolutions: conv → act → conv → act … → conv → final act.

use crate::activation::Activation;
use crate::conv::{ConvScratch, KernelShifts, PeriodicConv};
use crate::precision::Precision;
use lft_lattice::{Pcg64, uniform};

/// Convolutions with channel counts `channels` (e.g. [1, 8, 8, 2]).
#[derive(Debug, Clone)]
pub struct ConvNet {
    pub(crate) convs: Vec<PeriodicConv>,
    /// Start of each conv's parameters in the flat parameter vector.
    pub(crate) offsets: Vec<usize>,
    n_params: usize,
    pub(crate) hidden: Activation,
    pub(crate) last: Activation,
    pub(crate) volume: usize,
    /// The floating-point type of the passes (parameters and gradients are float64 either way).
    pub(crate) precision: Precision,
}

/// Intermediate values of one forward pass, kept for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct NetCache {
    /// Input of conv j, `[c_in_j, V]` (entry 0 is the network input).
    inputs: Vec<Vec<f64>>,
    /// Patches (im2col) of the input of conv j.
    patches: Vec<Vec<f64>>,
    /// Output of conv j before its activation.
    pre: Vec<Vec<f64>>,
    /// Network output, `[c_last, V]`.
    pub output: Vec<f64>,
}

impl ConvNet {
    pub fn new(
        channels: &[usize],
        hidden: Activation,
        last: Activation,
        shifts: &KernelShifts,
        volume: usize,
    ) -> Self {
        assert!(channels.len() >= 2, "a net needs input and output channels");
        let convs: Vec<PeriodicConv> = channels
            .windows(2)
            .map(|c| PeriodicConv::new(c[0], c[1], shifts))
            .collect();
        let mut offsets = Vec::with_capacity(convs.len());
        let mut n_params = 0;
        for c in &convs {
            offsets.push(n_params);
            n_params += c.n_params();
        }
        Self {
            convs,
            offsets,
            n_params,
            hidden,
            last,
            volume,
            precision: Precision::F64,
        }
    }

    /// The same net computing in `precision` (see [`Precision`]).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn n_params(&self) -> usize {
        self.n_params
    }

    pub fn out_channels(&self) -> usize {
        self.convs.last().map_or(0, |c| c.c_out)
    }

    /// PyTorch's default: weights and biases uniform in ±1/√(fan_in), fan_in = c_in·K. With
    /// `scale` < 1 the last layer starts smaller (a flow close to the identity).
    pub fn init_params(&self, shifts: &KernelShifts, rng: &mut Pcg64, last_scale: f64) -> Vec<f64> {
        let mut p = Vec::with_capacity(self.n_params);
        for (j, c) in self.convs.iter().enumerate() {
            let bound = 1.0 / ((c.c_in * shifts.len()) as f64).sqrt();
            let scale = if j + 1 == self.convs.len() {
                last_scale
            } else {
                1.0
            };
            for _ in 0..c.n_params() {
                p.push(scale * bound * (2.0 * uniform(rng) - 1.0));
            }
        }
        p
    }

    /// Forward pass of one configuration in float64 (whatever [`ConvNet::precision`] says: the
    /// conditioner sends float32 nets through [`crate::lane_net32`]); the output is
    /// `cache.output`. `conv_scratch` holds
    /// temporaries only (any scratch will do; reusing one saves allocations).
    pub fn forward(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        input: &[f64],
        cache: &mut NetCache,
        conv_scratch: &mut ConvScratch,
    ) {
        let v = self.volume;
        let n = self.convs.len();
        cache.inputs.resize(n, Vec::new());
        cache.patches.resize(n, Vec::new());
        cache.pre.resize(n, Vec::new());
        cache.inputs[0].clear();
        cache.inputs[0].extend_from_slice(input);
        for (j, conv) in self.convs.iter().enumerate() {
            let p = &params[self.offsets[j]..self.offsets[j] + conv.n_params()];
            let mut pre = std::mem::take(&mut cache.pre[j]);
            pre.resize(conv.c_out * v, 0.0);
            let mut patches = std::mem::take(&mut cache.patches[j]);
            conv.patches(shifts, &cache.inputs[j], &mut patches, conv_scratch);
            conv.forward_patches(p, &patches, &mut pre);
            cache.patches[j] = patches;
            let act = if j + 1 == n { self.last } else { self.hidden };
            let out = if j + 1 == n {
                &mut cache.output
            } else {
                &mut cache.inputs[j + 1]
            };
            out.clear();
            out.extend(pre.iter().map(|&x| act.apply(x)));
            cache.pre[j] = pre;
        }
    }

    /// Backward pass of one configuration in float64: g = ∂L/∂output; adds ∂L/∂params into `dparams`
    /// and writes ∂L/∂input into `d_input` when given.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        cache: &NetCache,
        g_out: &[f64],
        dparams: &mut [f64],
        d_input: Option<&mut [f64]>,
        conv_scratch: &mut ConvScratch,
    ) {
        let n = self.convs.len();
        // g = ∂L/∂(pre-activation of the last conv).
        let mut g: Vec<f64> = g_out
            .iter()
            .zip(&cache.pre[n - 1])
            .zip(&cache.output)
            .map(|((g, &x), &y)| g * self.last.derivative(x, y))
            .collect();
        let mut d_input = d_input;
        for j in (0..n).rev() {
            let conv = &self.convs[j];
            let range = self.offsets[j]..self.offsets[j] + conv.n_params();
            if j == 0 {
                conv.backward_patches(
                    shifts,
                    &params[range.clone()],
                    &cache.patches[0],
                    &g,
                    &mut dparams[range],
                    d_input.take(),
                    conv_scratch,
                );
                break;
            }
            let mut dh = vec![0.0; conv.c_in * self.volume];
            conv.backward_patches(
                shifts,
                &params[range.clone()],
                &cache.patches[j],
                &g,
                &mut dparams[range],
                Some(&mut dh),
                conv_scratch,
            );
            // Through the hidden activation that produced conv j's input.
            for ((d, &x), &y) in dh.iter_mut().zip(&cache.pre[j - 1]).zip(&cache.inputs[j]) {
                *d *= self.hidden.derivative(x, y);
            }
            g = dh;
        }
    }
}
