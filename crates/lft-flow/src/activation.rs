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
}
