//! The architecture of a flow ([`FlowSpec`]) and how it is built: the prior, an optional
//! spectral scale, then coupling layers with checkerboard masks alternating between even and
//! odd sites.

use crate::activation::Activation;
use crate::affine::{Affine, AffineCoupling};
use crate::cnf_field::KernelField;
use crate::continuous::ContinuousFlow;
use crate::conv::KernelShifts;
use crate::coupling::MaskedCoupling;
use crate::gauge_mask::MaskOrder;
pub use crate::gauge_stack::CircleSpec;
use crate::mask::checkerboard;
use crate::net::ConvNet;
use crate::precision::Precision;
use crate::prior::PriorSpec;
use crate::spectral::SpectralScale;
use crate::spline::RqSpline;
use crate::stack::BijectionStack;
use lft_lattice::{Lattice, Parity, Pcg64, stream_rng};
use std::sync::Arc;

/// Which coupling layers a flow stacks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CouplingSpec {
    /// RealNVP affine couplings (the conditioner outputs s and t).
    Affine,
    /// Rational-quadratic splines with `bins` bins on [−tail_bound, tail_bound].
    Spline { bins: usize, tail_bound: f64 },
    /// Gauge-equivariant plaquette couplings of 2D U(1) links (Kanwar et al.,
    /// [`crate::gauge_coupling`]): each active plaquette mapped by the circle transform
    /// `transform`, conditioned on the frozen plaquettes (and, with `loops`, the frozen 2 × 1
    /// loops).
    Gauge {
        transform: CircleSpec,
        loops: bool,
        /// The order of the stripes of active links.
        masks: MaskOrder,
        /// Start with the plaquette-basis layer ([`crate::gauge_plaquette_basis`]), which maps
        /// every plaquette but one by the same circular spline, of this many bins.
        plaquette_basis: Option<usize>,
    },
    /// A continuous normalizing flow (issue 39): one [`crate::ContinuousFlow`] layer, the
    /// equivariant kernel field integrated by fixed RK4 steps; `layers`, `hidden`, `kernel`
    /// and the activations do not apply.
    Continuous(ContinuousSpec),
}

/// The architecture of a continuous flow's vector field and its integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContinuousSpec {
    /// Kernel radius r: offsets with every folded |δ_μ| ≤ r (r ≥ L/2: the whole lattice).
    pub radius: usize,
    /// Sine features sin(ω_k φ) of learned frequencies, besides φ itself.
    pub frequencies: usize,
    /// Cosine modes M of time (cos πmt, m = 0 … M).
    pub time_modes: usize,
    /// Fixed RK4 steps over t ∈ [0, 1].
    pub steps: usize,
}

impl ContinuousSpec {
    /// The radius of the config's `kernel` key on a lattice of extents `shape`: 0 is the whole
    /// lattice (the largest extent, so every folded offset), an odd k is radius k/2; `None` for
    /// an even kernel or one wider than the smallest extent.
    pub fn radius_of_kernel(kernel: usize, shape: &[usize]) -> Option<usize> {
        let min_extent = shape.iter().copied().min().unwrap_or(0);
        match kernel {
            0 => Some(shape.iter().copied().max().unwrap_or(0)),
            k if k % 2 == 1 && k <= min_extent => Some(k / 2),
            _ => None,
        }
    }

    /// The kernel field on `lattice`.
    pub fn field(&self, lattice: &Lattice) -> KernelField {
        KernelField::new(lattice, self.radius, self.frequencies, self.time_modes)
    }
}

impl CouplingSpec {
    /// "affine", "spline", or the circle transform's name, as in the config.
    pub fn name(&self) -> &'static str {
        match self {
            CouplingSpec::Affine => "affine",
            CouplingSpec::Spline { .. } => "spline",
            CouplingSpec::Gauge { transform, .. } => transform.name(),
            CouplingSpec::Continuous(_) => "continuous",
        }
    }

    /// Whether the flow maps U(1) link fields (gauge-equivariant couplings).
    pub fn is_gauge(&self) -> bool {
        matches!(self, CouplingSpec::Gauge { .. })
    }
}

/// Architecture of a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSpec {
    /// Number of coupling layers (masks alternate between even and odd sites).
    pub layers: usize,
    /// Hidden channels of each conditioner, e.g. [8, 8].
    pub hidden: Vec<usize>,
    /// Odd kernel size of the convolutions.
    pub kernel: usize,
    /// Hidden activation.
    pub activation: Activation,
    /// Activation of the conditioner output (tanh keeps s and t bounded).
    pub final_activation: Activation,
    /// Symmetrise every conditioner under φ → −φ (then q(−φ) = q(φ) for an even prior).
    pub equivariant: bool,
    pub coupling: CouplingSpec,
    pub prior: PriorSpec,
    /// Start with a learnable momentum-space scale ỹ(p) = e^{c(p)} z̃(p) (see
    /// [`SpectralScale`]); it represents free-field covariances exactly.
    pub spectral: bool,
    /// The floating-point type of the conditioner networks (see [`Precision`]).
    pub precision: Precision,
}

impl CouplingSpec {
    /// The spline of a spline coupling (None for affine): minimum bin width, height and knot
    /// derivative 10⁻³.
    pub fn spline(&self) -> Option<RqSpline> {
        match *self {
            CouplingSpec::Affine | CouplingSpec::Gauge { .. } | CouplingSpec::Continuous(_) => None,
            CouplingSpec::Spline { bins, tail_bound } => Some(RqSpline {
                bins,
                bound: tail_bound,
                min_width: 1e-3,
                min_height: 1e-3,
                min_derivative: 1e-3,
            }),
        }
    }
}

impl FlowSpec {
    /// Channels of every conditioner: [inputs, hidden…, parameters per site]: one input
    /// channel for scalar fields, 2 (or 6 with loops) for gauge fields; 2 parameters for
    /// affine, 3K − 1 for a spline of K bins, those of the circle transform for gauge
    /// couplings.
    pub fn conditioner_channels(&self) -> Vec<usize> {
        let (inputs, outputs) = match self.coupling {
            CouplingSpec::Gauge {
                transform, loops, ..
            } => (
                crate::gauge_coupling::feature_channels(loops),
                transform.params_per_site(),
            ),
            c => (1, c.spline().map_or(2, |s| s.params_per_site())),
        };
        let mut channels = vec![inputs];
        channels.extend_from_slice(&self.hidden);
        channels.push(outputs);
        channels
    }

    /// Values per configuration on `lattice`: V for a scalar field, d·V links for a gauge
    /// field.
    pub fn field_len(&self, lattice: &Lattice) -> usize {
        if self.coupling.is_gauge() {
            lattice.dim() * lattice.volume()
        } else {
            lattice.volume()
        }
    }

    /// A stack of `layers` affine couplings with conv conditioners of `hidden` channels,
    /// `kernel` wide, hidden activation `activation` and tanh on the output, no spectral
    /// layer and no symmetrisation: the default transport between annealing temperatures
    /// (build it with [`FlowSpec::build_identity_stack`]; the prior is unused there).
    pub fn affine_transport(
        layers: usize,
        hidden: Vec<usize>,
        kernel: usize,
        activation: Activation,
    ) -> Self {
        Self {
            layers,
            hidden,
            kernel,
            activation,
            final_activation: Activation::Tanh,
            equivariant: false,
            coupling: CouplingSpec::Affine,
            prior: PriorSpec::StandardNormal,
            spectral: false,
            precision: Precision::F64,
        }
    }

    /// A gauge-equivariant flow of 2D U(1) link fields: `layers` plaquette couplings with the
    /// circle transform `transform` (conditioned also on the frozen 2 × 1 loops with `loops`),
    /// conditioners of `hidden` channels with kernel 3 and leaky ReLU, no final activation,
    /// from the Haar measure (the config's defaults for `kind = "u1"`).
    pub fn gauge(layers: usize, hidden: Vec<usize>, transform: CircleSpec, loops: bool) -> Self {
        Self {
            layers,
            hidden,
            kernel: 3,
            activation: Activation::LeakyRelu(0.01),
            final_activation: Activation::Identity,
            equivariant: false,
            coupling: CouplingSpec::Gauge {
                transform,
                loops,
                masks: MaskOrder::Descending,
                plaquette_basis: None,
            },
            prior: PriorSpec::Uniform,
            spectral: false,
            precision: Precision::F64,
        }
    }

    /// The gauge-equivariant counterpart of [`FlowSpec::affine_transport`] for U(1) link
    /// fields: `layers` plaquette couplings with 2-component NCP maps (exactly the identity at
    /// zero parameters, as [`FlowSpec::build_identity_stack`] needs), no final activation.
    pub fn gauge_transport(
        layers: usize,
        hidden: Vec<usize>,
        kernel: usize,
        activation: Activation,
    ) -> Self {
        Self {
            kernel,
            activation,
            ..Self::gauge(layers, hidden, CircleSpec::Ncp { components: 2 }, false)
        }
    }

    /// A continuous flow as an annealing transport: the kernel field of `cnf` with its
    /// weights at zero (v = 0, exactly the identity until trained) and the flow-config's
    /// `kernel` key (0: the whole lattice).
    pub fn continuous_transport(kernel: usize, cnf: ContinuousSpec) -> Self {
        Self {
            layers: 0,
            hidden: Vec::new(),
            kernel,
            activation: Activation::Identity,
            final_activation: Activation::Identity,
            equivariant: true,
            coupling: CouplingSpec::Continuous(cnf),
            prior: PriorSpec::StandardNormal,
            spectral: false,
            precision: Precision::F64,
        }
    }

    /// With a plaquette-basis layer (which comes first, so its parameters lead `params`): sets
    /// them to the spline that interpolates the quantile map of the Wilson plaquette marginal
    /// at β ([`crate::CircularSpline::von_mises_params`]) and returns what is left of the KL
    /// per plaquette ([`crate::plaquette_marginal::marginal_kl`] on 2¹⁶ points); `None` for
    /// flows without that layer.
    pub fn init_plaquette_basis(&self, beta: f64, params: &mut [f64]) -> Option<f64> {
        let CouplingSpec::Gauge {
            plaquette_basis: Some(bins),
            ..
        } = self.coupling
        else {
            return None;
        };
        let transform = crate::gauge_stack::basis_transform(bins);
        let init = transform.core.von_mises_params(beta);
        params[..init.len()].copy_from_slice(&init);
        let kl = crate::plaquette_marginal::marginal_kl(&transform, beta, &init, 1 << 16, None);
        Some(kl)
    }

    /// The stack of bijections of this architecture on `lattice`, with parameters drawn from
    /// stream (seed, 0): the spectral scale (if any) starts at the identity, the nets as
    /// [`ConvNet::init_params`].
    pub fn build_stack(&self, lattice: &Lattice, seed: u64) -> BijectionStack {
        self.build_stack_with(lattice, &mut stream_rng(seed, 0), 1.0)
    }

    /// The stack of this architecture as an annealing transport: every conditioner's last
    /// convolution starts at zero, so each coupling (and the spectral scale) is exactly the
    /// identity (y = x, log|det J| = 0) until trained; the hidden layers are drawn from stream
    /// (seed, `stream`) as [`ConvNet::init_params`].
    pub fn build_identity_stack(
        &self,
        lattice: &Lattice,
        seed: u64,
        stream: u64,
    ) -> BijectionStack {
        self.build_stack_with(lattice, &mut stream_rng(seed, stream), 0.0)
    }

    /// The stack with hidden layers drawn from `rng` and the last layer of every conditioner
    /// scaled by `last_scale`.
    fn build_stack_with(
        &self,
        lattice: &Lattice,
        rng: &mut Pcg64,
        last_scale: f64,
    ) -> BijectionStack {
        if let CouplingSpec::Continuous(cnf) = self.coupling {
            return self.continuous_stack(lattice, cnf, rng);
        }
        let shifts = Arc::new(KernelShifts::new(lattice, self.kernel));
        if let CouplingSpec::Gauge {
            transform,
            loops,
            masks,
            plaquette_basis,
        } = self.coupling
        {
            let stack = crate::gauge_stack::GaugeStack {
                layers: self.layers,
                channels: self.conditioner_channels(),
                activation: self.activation,
                final_activation: self.final_activation,
                transform,
                loops,
                masks,
                plaquette_basis,
            };
            return stack.build(lattice, &shifts, rng, last_scale);
        }
        let v = lattice.volume();
        let spline = self.coupling.spline();
        let channels = self.conditioner_channels();
        let mut stack = BijectionStack::new();
        if self.spectral {
            let layer = SpectralScale::new(lattice);
            let n = crate::Bijection::n_params(&layer);
            stack.push(Arc::new(layer), vec![0.0; n]);
        }
        for l in 0..self.layers {
            let parity = if l % 2 == 0 {
                Parity::Even
            } else {
                Parity::Odd
            };
            let net = ConvNet::new(
                &channels,
                self.activation,
                self.final_activation,
                &shifts,
                v,
            )
            .with_precision(self.precision);
            let params = net.init_params(&shifts, rng, last_scale);
            let mask = checkerboard(lattice, parity);
            let (sh, eq) = (shifts.clone(), self.equivariant);
            match spline {
                None => stack.push(
                    Arc::new(AffineCoupling::new(mask, net, sh, Affine, eq)),
                    params,
                ),
                Some(sp) => {
                    stack.push(Arc::new(MaskedCoupling::new(mask, net, sh, sp, eq)), params)
                }
            }
        }
        stack
    }

    /// The optional spectral scale (at the identity), then the continuous flow with its
    /// frequencies drawn from `rng` and every kernel weight zero: v = 0, the identity map, as
    /// Gerdes et al. start (the weights' gradients are not zero there).
    fn continuous_stack(
        &self,
        lattice: &Lattice,
        cnf: ContinuousSpec,
        rng: &mut Pcg64,
    ) -> BijectionStack {
        let mut stack = BijectionStack::new();
        if self.spectral {
            let layer = SpectralScale::new(lattice);
            let n = crate::Bijection::n_params(&layer);
            stack.push(Arc::new(layer), vec![0.0; n]);
        }
        let field = cnf.field(lattice);
        let params = field.init_params(rng, 0.0);
        stack.push(Arc::new(ContinuousFlow::new(field, cnf.steps)), params);
        stack
    }
}
