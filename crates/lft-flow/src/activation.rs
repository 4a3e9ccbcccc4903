//! Elementwise activations with their derivatives.

/// An elementwise nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// x for x ≥ 0, αx otherwise.
    LeakyRelu(f64),
    /// tanh x, derivative 1 − tanh² x.
    Tanh,
    /// x.
    Identity,
}

impl Activation {
    /// y = a(x).
    #[inline]
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Activation::LeakyRelu(alpha) => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::Identity => x,
        }
    }

    /// a′(x), written in terms of the pre-activation x and the output y = a(x).
    #[inline]
    pub fn derivative(self, x: f64, y: f64) -> f64 {
        match self {
            Activation::LeakyRelu(alpha) => {
                if x >= 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Tanh => 1.0 - y * y,
            Activation::Identity => 1.0,
        }
    }

    /// `out[i] = a(x[i])` for every value (the match hoisted out of the loop, so that the
    /// piecewise-linear cases vectorise).
    pub fn apply_all(self, x: &[f64], out: &mut [f64]) {
        match self {
            Activation::LeakyRelu(alpha) => {
                for (o, &x) in out.iter_mut().zip(x) {
                    *o = if x >= 0.0 { x } else { alpha * x };
                }
            }
            Activation::Tanh => out.iter_mut().zip(x).for_each(|(o, x)| *o = x.tanh()),
            Activation::Identity => out.copy_from_slice(x),
        }
    }

    /// `g[i] *= a′(x[i])`, with y = a(x) (as [`Activation::derivative`]).
    pub fn scale_by_derivative(self, g: &mut [f64], x: &[f64], y: &[f64]) {
        match self {
            Activation::LeakyRelu(alpha) => {
                for (g, &x) in g.iter_mut().zip(x) {
                    *g *= if x >= 0.0 { 1.0 } else { alpha };
                }
            }
            Activation::Tanh => {
                for (g, &y) in g.iter_mut().zip(y) {
                    *g *= 1.0 - y * y;
                }
            }
            Activation::Identity => {}
        }
    }
}
