//! A coupling flow on the device: lft-flow's architecture ([`FlowSpec`]) laid out as buffers,
//! and its passes as [`KernelCall`]s — forward from the latent batch, the reverse-KL loss
//! with its gradient, one Adam step. A training step moves five scalars to the host (the loss
//! summary and the gradient norm), nothing else.
//!
//! The flow's layers are those [`FlowSpec::build_stack`] builds: L masked couplings on
//! alternating checkerboards, each conditioned by a conv net (channels 1 → hidden → 2 or
//! 3K − 1), optionally Z₂-symmetrised; parameters in the same flat order, so a checkpoint moves
//! between the CPU and the GPU unchanged. Not on the device yet: the spectral layer and the
//! free-field prior (both need an FFT), and the path gradient.
//!
//! The reverse KL of a batch z `[n, V]`, x = f(z), is
//! L = (1/n) Σ_b [log r(z_b) − log|det J_b| + S(x_b)]; backward starts from
//! ∂L/∂x_b = ∇S(x_b)/n and ∂L/∂log|det J_b| = −1/n in every layer (lft-flow's
//! `Flow::reverse_kl`, total gradient).

use crate::CudaError;
use crate::call::{BufId, BufferTable, HostBuffer, KernelCall};
use crate::ops::conv::{Act, ConvLayer, Float};
use crate::ops::coupling::{Mask, Mirror, SplineShape};
use crate::ops::phi4::Phi4Batch;
use crate::ops::{random, reduce};
use crate::philox::PhiloxKey;
use crate::tables::conv_sites;
use lft_flow::Affine;
use lft_flow::activation::Activation;
use lft_flow::mask::checkerboard;
use lft_flow::precision::Precision;
use lft_flow::prior::PriorSpec;
use lft_flow::spec::{CouplingSpec, FlowSpec};
use lft_flow::transform::ElementwiseTransform;
use lft_lattice::{Lattice, Parity};

/// What the device cannot run yet, by name.
fn unsupported(what: &'static str) -> CudaError {
    CudaError::Unsupported(what)
}

fn act(a: Activation) -> Act {
    match a {
        Activation::Identity => Act::Identity,
        Activation::Tanh => Act::Tanh,
        Activation::LeakyRelu(alpha) => Act::LeakyRelu(alpha),
    }
}

/// The buffers of one evaluation of a conditioner net (the symmetrised ones have two).
#[derive(Debug, Clone)]
struct NetPass {
    /// ±1: the net sees sign · (1 − A) x.
    sign: f64,
    /// h_0 = the masked input, h_{j+1} = act(pre_j).
    h: Vec<BufId>,
    pre: Vec<BufId>,
    /// ∂L/∂h_j and ∂L/∂pre_j.
    gh: Vec<BufId>,
    gpre: Vec<BufId>,
}

#[derive(Debug, Clone, Copy)]
enum Transform {
    Affine,
    Spline(SplineShape),
}

#[derive(Debug, Clone)]
struct Layer {
    mask: Mask,
    convs: Vec<ConvLayer>,
    hidden: Act,
    last: Act,
    transform: Transform,
    /// The symmetrisation's channel mirror (identity and unused without it).
    mirror: Mirror,
    passes: Vec<NetPass>,
    /// θ `[n, C, V]` (float64) and its gradient.
    theta: BufId,
    gtheta: BufId,
}

/// A coupling flow of batch `n` on the device (or, in the tests, on the host emulator).
#[derive(Debug, Clone)]
pub struct FlowProgram {
    pub n: usize,
    pub volume: usize,
    pub n_params: usize,
    pub float: Float,
    layers: Vec<Layer>,
    /// Flat float64 parameters in lft-flow's order, their gradient and Adam's moments.
    pub params: BufId,
    pub grad: BufId,
    pub adam_m: BufId,
    pub adam_v: BufId,
    /// z = x_0, x_1, …, x_L `[n, V]` each.
    xs: Vec<BufId>,
    /// Per configuration: Σ log|det J|, log r(z), log q, S(x) `[n]`.
    pub logdet: BufId,
    logr: BufId,
    pub logq: BufId,
    pub action: BufId,
    /// (loss, log Σ e^{lw}, ESS/n, max lw).
    pub summary: BufId,
    /// Σ grad², for clipping.
    pub grad_norm2: BufId,
    /// The cotangent ∂L/∂x_l, in two buffers used in turn, and ∂L/∂ log|det J| = −1/n.
    cotangent: [BufId; 2],
    gld: BufId,
}

impl FlowProgram {
    /// The program of `spec` on `lattice` for batches of `n`, its parameters `params` (a flat
    /// vector as lft-flow's `Flow::params`), buffers made in `table`.
    pub fn new(
        spec: &FlowSpec,
        lattice: &Lattice,
        n: usize,
        params: &[f64],
        shared_limit: usize,
        table: &mut dyn BufferTable,
    ) -> Result<Self, CudaError> {
        Self::check(spec)?;
        let v = lattice.volume();
        let float = match spec.precision {
            Precision::F64 => Float::F64,
            Precision::F32 => Float::F32,
        };
        let f32 = float == Float::F32;
        let channels = spec.conditioner_channels();
        let out_channels = *channels.last().expect("an output layer");
        let (transform, mirror) = match spec.coupling.spline() {
            None => (Transform::Affine, Affine.mirror()),
            Some(s) => {
                let shape = SplineShape::from(&s);
                shape.check()?;
                (Transform::Spline(shape), s.mirror())
            }
        };
        let taps = spec.kernel.pow(lattice.dim() as u32);
        let sites = table.alloc_i32(&conv_sites(lattice, spec.kernel))?;
        let params_buf = table.alloc_f64(params)?;
        let per_layer: usize = channels.windows(2).map(|c| c[1] * (c[0] * taps + 1)).sum();
        if params.len() != spec.layers * per_layer {
            return Err(CudaError::ParamCount {
                expected: spec.layers * per_layer,
                got: params.len(),
            });
        }
        let masks = [
            table.alloc_f64(&checkerboard(lattice, Parity::Even))?,
            table.alloc_f64(&checkerboard(lattice, Parity::Odd))?,
        ];
        let perm: Vec<i32> = mirror.perm.iter().map(|&p| p as i32).collect();
        let mirror = Mirror {
            channels: out_channels,
            perm: table.alloc_i32(&perm)?,
            sign: table.alloc_f64(&mirror.sign)?,
        };
        let mut layers = Vec::with_capacity(spec.layers);
        for l in 0..spec.layers {
            let mut offset = l * per_layer;
            let convs: Vec<ConvLayer> = channels
                .windows(2)
                .map(|c| {
                    let layer = ConvLayer {
                        c_in: c[0],
                        c_out: c[1],
                        taps,
                        volume: v,
                        float,
                        sites,
                        params: params_buf,
                        offset,
                        shared_limit,
                    };
                    offset += layer.n_params();
                    layer
                })
                .collect();
            let signs: &[f64] = if spec.equivariant {
                &[1.0, -1.0]
            } else {
                &[1.0]
            };
            let mut passes = Vec::new();
            for &sign in signs {
                let mut pass = NetPass {
                    sign,
                    h: Vec::new(),
                    pre: Vec::new(),
                    gh: Vec::new(),
                    gpre: Vec::new(),
                };
                for (j, &c) in channels.iter().enumerate() {
                    pass.h.push(table.zeros(n * c * v, f32)?);
                    pass.gh.push(table.zeros(n * c * v, f32)?);
                    if j > 0 {
                        pass.pre.push(table.zeros(n * c * v, f32)?);
                        pass.gpre.push(table.zeros(n * c * v, f32)?);
                    }
                }
                passes.push(pass);
            }
            layers.push(Layer {
                mask: Mask {
                    volume: v,
                    active: masks[l % 2],
                },
                convs,
                hidden: act(spec.activation),
                last: act(spec.final_activation),
                transform,
                mirror,
                passes,
                theta: table.zeros(n * out_channels * v, false)?,
                gtheta: table.zeros(n * out_channels * v, false)?,
            });
        }
        let n_params = params.len();
        let mut xs = Vec::with_capacity(spec.layers + 1);
        for _ in 0..=spec.layers {
            xs.push(table.zeros(n * v, false)?);
        }
        Ok(Self {
            n,
            volume: v,
            n_params,
            float,
            layers,
            params: params_buf,
            grad: table.zeros(n_params, false)?,
            adam_m: table.zeros(n_params, false)?,
            adam_v: table.zeros(n_params, false)?,
            xs,
            logdet: table.zeros(n, false)?,
            logr: table.zeros(n, false)?,
            logq: table.zeros(n, false)?,
            action: table.zeros(n, false)?,
            summary: table.zeros(4, false)?,
            grad_norm2: table.zeros(1, false)?,
            cotangent: [table.zeros(n * v, false)?, table.zeros(n * v, false)?],
            gld: table.alloc(HostBuffer::F64(vec![-1.0 / n as f64; n]))?,
        })
    }

    /// Ok if the device can run `spec`, else the named part it cannot.
    pub fn check(spec: &FlowSpec) -> Result<(), CudaError> {
        if spec.coupling.is_gauge() {
            return Err(unsupported("gauge-equivariant couplings"));
        }
        if let CouplingSpec::Continuous(_) = spec.coupling {
            return Err(unsupported("continuous flows"));
        }
        if spec.spectral {
            return Err(unsupported("the spectral layer"));
        }
        match spec.prior {
            PriorSpec::StandardNormal => {}
            PriorSpec::FreeField { .. } => return Err(unsupported("a free-field prior")),
            PriorSpec::Z2Mixture { .. } => return Err(unsupported("the Z2-mixture prior")),
            PriorSpec::Uniform => return Err(unsupported("the uniform prior of link angles")),
        }
        if let CouplingSpec::Spline { bins, .. } = spec.coupling
            && bins > crate::ops::coupling::MAX_BINS
        {
            return Err(CudaError::TooManyBins {
                bins,
                max: crate::ops::coupling::MAX_BINS,
            });
        }
        Ok(())
    }

    /// The latent batch z (write it from the host, or draw it with [`Self::draw_latent`]).
    pub fn latent(&self) -> BufId {
        self.xs[0]
    }

    /// The flow's output x = f(z) after [`Self::forward`].
    pub fn output(&self) -> BufId {
        *self.xs.last().expect("x_0 at least")
    }

    /// z ~ N(0, 1) from Philox stream `stream` of `key`.
    pub fn draw_latent(&self, key: PhiloxKey, stream: u64) -> Result<KernelCall, CudaError> {
        random::normal_fill(self.n * self.volume, self.latent(), key, stream)
    }

    /// x = f(z), logdet = Σ log|det J|, log q = log r(z) − logdet.
    pub fn forward(&self) -> Result<Vec<KernelCall>, CudaError> {
        let (n, v) = (self.n, self.volume);
        let mut calls = vec![
            reduce::fill(n, self.logdet, 0.0)?,
            random::normal_log_density(n, v, self.latent(), self.logr)?,
        ];
        for (l, layer) in self.layers.iter().enumerate() {
            calls.extend(self.layer_forward(layer, self.xs[l], self.xs[l + 1])?);
        }
        calls.push(reduce::copy(n, self.logr, self.logq)?);
        calls.push(reduce::scaled_add(n, self.logq, self.logdet, -1.0)?);
        Ok(calls)
    }

    fn layer_forward(
        &self,
        layer: &Layer,
        x_in: BufId,
        x_out: BufId,
    ) -> Result<Vec<KernelCall>, CudaError> {
        let n = self.n;
        let mut calls = Vec::new();
        for pass in &layer.passes {
            calls.push(
                layer
                    .mask
                    .frozen_input(n, x_in, pass.sign, self.float, pass.h[0])?,
            );
            let last = layer.convs.len() - 1;
            for (j, conv) in layer.convs.iter().enumerate() {
                let a = if j == last { layer.last } else { layer.hidden };
                calls.push(conv.forward(n, pass.h[j], a, Some(pass.pre[j]), pass.h[j + 1])?);
            }
        }
        let out = |p: &NetPass| *p.h.last().expect("net output");
        let minus = layer.passes.get(1).map(out);
        calls.push(layer.mirror.combine(
            n,
            self.volume,
            self.float,
            out(&layer.passes[0]),
            minus,
            layer.theta,
        )?);
        calls.push(match layer.transform {
            Transform::Affine => {
                layer
                    .mask
                    .affine(n, x_in, layer.theta, false, 1.0, x_out, self.logdet)?
            }
            Transform::Spline(shape) => {
                layer
                    .mask
                    .spline(n, &shape, x_in, layer.theta, false, 1.0, x_out, self.logdet)?
            }
        });
        Ok(calls)
    }

    /// The forward pass, S(x), the loss summary and the gradient of the reverse KL into
    /// [`Self::grad`] (overwritten), and Σ grad² into [`Self::grad_norm2`].
    pub fn reverse_kl(&self, target: &Phi4Batch) -> Result<Vec<KernelCall>, CudaError> {
        let (n, v) = (self.n, self.volume);
        let mut calls = self.forward()?;
        calls.push(target.action(n, self.output(), self.action)?);
        calls.push(reduce::kl_summary(n, self.logq, self.action, self.summary)?);
        calls.push(reduce::fill(self.n_params, self.grad, 0.0)?);
        let mut g = 0;
        calls.push(target.gradient(n, self.output(), self.cotangent[g])?);
        calls.push(reduce::scale(n * v, self.cotangent[g], 1.0 / n as f64)?);
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let (g_out, g_in) = (self.cotangent[g], self.cotangent[1 - g]);
            calls.extend(self.layer_backward(layer, self.xs[l], g_out, g_in)?);
            g = 1 - g;
        }
        calls.push(reduce::fill(1, self.grad_norm2, 0.0)?);
        calls.push(reduce::sum_squares(
            self.n_params,
            self.grad,
            self.grad_norm2,
        )?);
        Ok(calls)
    }

    /// From ∂L/∂x_{l+1} (`g_out`) to ∂L/∂x_l (`g_in`), adding ∂L/∂θ_l's net gradient into grad.
    fn layer_backward(
        &self,
        layer: &Layer,
        x_in: BufId,
        g_out: BufId,
        g_in: BufId,
    ) -> Result<Vec<KernelCall>, CudaError> {
        let (n, v, float) = (self.n, self.volume, self.float);
        let mut calls = vec![match layer.transform {
            Transform::Affine => layer.mask.affine_backward(
                n,
                false,
                x_in,
                layer.theta,
                g_out,
                self.gld,
                g_in,
                layer.gtheta,
            )?,
            Transform::Spline(shape) => layer.mask.spline_backward(
                n,
                &shape,
                x_in,
                layer.theta,
                g_out,
                self.gld,
                g_in,
                layer.gtheta,
            )?,
        }];
        let top = |p: &NetPass| *p.gh.last().expect("net output gradient");
        let minus = layer.passes.get(1).map(top);
        calls.push(
            layer
                .mirror
                .split(n, v, float, layer.gtheta, top(&layer.passes[0]), minus)?,
        );
        for pass in &layer.passes {
            let last = layer.convs.len() - 1;
            for (j, conv) in layer.convs.iter().enumerate().rev() {
                let a = if j == last { layer.last } else { layer.hidden };
                calls.push(conv.activation_backward(
                    n,
                    a,
                    pass.pre[j],
                    pass.gh[j + 1],
                    pass.gpre[j],
                )?);
                calls.push(conv.backward_weight(n, pass.h[j], pass.gpre[j], self.grad)?);
                calls.push(conv.backward_input(n, pass.gpre[j], false, pass.gh[j])?);
            }
            calls.push(
                layer
                    .mask
                    .frozen_input_backward(n, pass.gh[0], pass.sign, float, g_in)?,
            );
        }
        Ok(calls)
    }

    /// One Adam step (t ≥ 1) with learning rate `lr`, the gradient scaled by `scale` (from the
    /// norm the host read: min(1, max_norm / |g|) when clipping).
    pub fn adam(&self, lr: f64, t: u64, scale: f64) -> Result<KernelCall, CudaError> {
        reduce::adam_step(
            self.n_params,
            self.params,
            self.grad,
            self.adam_m,
            self.adam_v,
            reduce::AdamStep {
                lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                t,
                scale,
            },
        )
    }
}

/// The gradient scale of clipping by global norm at `max_norm` (None: no clipping), as
/// lft-flow's `clip_grad_norm`.
pub fn clip_scale(norm2: f64, max_norm: Option<f64>) -> f64 {
    let norm = norm2.sqrt();
    match max_norm {
        Some(max) if norm > max && norm > 0.0 => max / norm,
        _ => 1.0,
    }
}
