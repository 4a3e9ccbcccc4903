//! The periodic convolutions of a conditioner net on a batch (`kernels/conv.cu`), in float64
//! or float32, the parameters float64 in lft-flow's flat layout either way.

use crate::CudaError;
use crate::call::{Arg, BufId, KernelCall, int};
use crate::launch::{conv_tiles, elementwise, weight_gradient};

/// Floating-point type of a net's activations on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Float {
    F64,
    F32,
}

impl Float {
    pub fn bytes(self) -> usize {
        match self {
            Float::F64 => 8,
            Float::F32 => 4,
        }
    }

    /// The kernel name with this type's suffix.
    pub(crate) fn suffixed(self, base: &'static str) -> &'static str {
        macro_rules! pick {
            ($($name:literal),*) => {
                match (base, self) {
                    $(($name, Float::F64) => concat!($name, "_f64"),
                      ($name, Float::F32) => concat!($name, "_f32"),)*
                    _ => panic!("no kernel family {base}"),
                }
            };
        }
        pick!(
            "conv_forward",
            "activation_backward",
            "conv_backward_input",
            "conv_backward_weight",
            "mask_frozen",
            "mask_frozen_backward",
            "mirror_combine",
            "mirror_split"
        )
    }
}

/// An activation as the kernels code it: 0 identity, 1 tanh, 2 leaky ReLU (slope α below 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Identity,
    Tanh,
    LeakyRelu(f64),
}

impl Act {
    fn code(self) -> (i32, f64) {
        match self {
            Act::Identity => (0, 0.0),
            Act::Tanh => (1, 0.0),
            Act::LeakyRelu(a) => (2, a),
        }
    }
}

/// One convolution: `c_in` → `c_out` channels, `taps` = K offsets (the table `sites`, i32
/// `[K][V]`, from [`crate::tables::conv_sites`]), its parameters at `offset` of the flat
/// float64 parameter buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvLayer {
    pub c_in: usize,
    pub c_out: usize,
    pub taps: usize,
    pub volume: usize,
    pub float: Float,
    pub sites: BufId,
    pub params: BufId,
    pub offset: usize,
    /// Dynamic shared memory a block may use (48 KiB, or what the runtime opted into).
    pub shared_limit: usize,
}

impl ConvLayer {
    /// c_out (c_in K + 1).
    pub fn n_params(&self) -> usize {
        self.c_out * (self.c_in * self.taps + 1)
    }

    fn sizes(&self) -> Result<[Arg; 4], CudaError> {
        Ok([
            Arg::I32(int("input channels", self.c_in)?),
            Arg::I32(int("output channels", self.c_out)?),
            Arg::I32(int("kernel taps", self.taps)?),
            Arg::I32(int("volume", self.volume)?),
        ])
    }

    fn type_arg(&self, v: f64) -> Arg {
        match self.float {
            Float::F64 => Arg::F64(v),
            Float::F32 => Arg::F32(v as f32),
        }
    }

    /// y = act(pre), pre = conv(h) + bias (pre kept for the backward pass when given).
    pub fn forward(
        &self,
        n: usize,
        h: BufId,
        act: Act,
        pre: Option<BufId>,
        y: BufId,
    ) -> Result<KernelCall, CudaError> {
        let (code, alpha) = act.code();
        let mut args = vec![
            Arg::BufAt(self.params, self.offset),
            Arg::Buf(h),
            Arg::Buf(self.sites),
        ];
        args.extend(self.sizes()?);
        args.extend([
            Arg::I32(code),
            self.type_arg(alpha),
            super::optional(pre),
            Arg::Buf(y),
        ]);
        Ok(KernelCall {
            function: self.float.suffixed("conv_forward"),
            launch: conv_tiles(
                n,
                self.volume,
                self.n_params(),
                self.float.bytes(),
                self.shared_limit,
            )?,
            args,
        })
    }

    /// gpre = gy · act′(pre), over the n c_out V outputs.
    pub fn activation_backward(
        &self,
        n: usize,
        act: Act,
        pre: BufId,
        gy: BufId,
        gpre: BufId,
    ) -> Result<KernelCall, CudaError> {
        let (code, alpha) = act.code();
        let count = n * self.c_out * self.volume;
        Ok(KernelCall {
            function: self.float.suffixed("activation_backward"),
            launch: elementwise(count)?,
            args: vec![
                Arg::Buf(pre),
                Arg::Buf(gy),
                Arg::I64(count as i64),
                Arg::I32(code),
                self.type_arg(alpha),
                Arg::Buf(gpre),
            ],
        })
    }

    /// dh = ∂L/∂h from g = ∂L/∂pre (added to dh when `accumulate`).
    pub fn backward_input(
        &self,
        n: usize,
        g: BufId,
        accumulate: bool,
        dh: BufId,
    ) -> Result<KernelCall, CudaError> {
        let mut args = vec![
            Arg::BufAt(self.params, self.offset),
            Arg::Buf(g),
            Arg::Buf(self.sites),
        ];
        args.extend(self.sizes()?);
        args.extend([Arg::I32(accumulate as i32), Arg::Buf(dh)]);
        Ok(KernelCall {
            function: self.float.suffixed("conv_backward_input"),
            launch: conv_tiles(
                n,
                self.volume,
                self.c_out * self.c_in * self.taps,
                self.float.bytes(),
                self.shared_limit,
            )?,
            args,
        })
    }

    /// ∂L/∂(W, b) added into `dparams` (the flat float64 gradient, at this layer's offset).
    pub fn backward_weight(
        &self,
        n: usize,
        h: BufId,
        g: BufId,
        dparams: BufId,
    ) -> Result<KernelCall, CudaError> {
        let mut args = vec![Arg::Buf(h), Arg::Buf(g), Arg::Buf(self.sites)];
        args.extend(self.sizes()?);
        args.extend([Arg::I32(int("batch", n)?), Arg::BufAt(dparams, self.offset)]);
        Ok(KernelCall {
            function: self.float.suffixed("conv_backward_weight"),
            launch: weight_gradient(self.n_params(), n, self.volume)?,
            args,
        })
    }
}
