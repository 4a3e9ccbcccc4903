//! Mixtures of non-compact projections (Rezende et al., arXiv:2002.02428; the NCP transforms of
//! Kanwar et al.): the core map of [−π, π]
//!   c(v) = Σ_k w_k g_{s_k}(v),   g_s(v) = 2 atan(e^s tan(v/2)) = 2 atan2(e^s sin(v/2), cos(v/2)),
//! with w = softmax(a). Each g_s is an odd bijection of [−π, π] fixing 0 and ±π; with
//! S = sin(v/2), C = cos(v/2) and D = C² + e^{2s} S²,
//!   g′ = e^s / D,   ∂g/∂s = e^s sin(v) / D,
//!   ∂ log g′/∂v = −½ sin(v) (e^{2s} − 1) / D,   ∂ log g′/∂s = 1 − 2 e^{2s} S² / D.
//! Raw parameters per site: K log-scales s_k, then K weight logits a_k (then the rotation t of
//! [`crate::circle::CircleTransform`]). Under v → −v every parameter is even.

use crate::circle::CircleMap;
use crate::conditioner::ChannelMirror;
use crate::spline::softmax;

/// A mixture of `components` NCP maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NcpMixture {
    pub components: usize,
}

/// One component at v: (g, g′, ∂g/∂s, ∂ log g′/∂v, ∂ log g′/∂s).
fn component(v: f64, s: f64) -> [f64; 5] {
    let (sh, ch) = (0.5 * v).sin_cos();
    let e = s.exp();
    let e2 = e * e;
    let d = ch * ch + e2 * sh * sh;
    let sin_v = v.sin();
    [
        2.0 * (e * sh).atan2(ch),
        e / d,
        e * sin_v / d,
        -0.5 * sin_v * (e2 - 1.0) / d,
        1.0 - 2.0 * e2 * sh * sh / d,
    ]
}

impl NcpMixture {
    /// The mixture weights and every component's terms at v.
    fn terms(&self, v: f64, raw: &[f64]) -> (Vec<f64>, Vec<[f64; 5]>) {
        let k = self.components;
        let mut w = Vec::with_capacity(k);
        softmax(&raw[k..2 * k], &mut w);
        let parts = raw[..k].iter().map(|&s| component(v, s)).collect();
        (w, parts)
    }
}

impl CircleMap for NcpMixture {
    fn core_params(&self) -> usize {
        2 * self.components
    }

    fn core_mirror(&self) -> ChannelMirror {
        let n = self.core_params();
        ChannelMirror {
            perm: (0..n).collect(),
            sign: vec![1.0; n],
        }
    }

    fn eval(&self, v: f64, raw: &[f64]) -> (f64, f64) {
        let (w, parts) = self.terms(v, raw);
        let c = w.iter().zip(&parts).map(|(w, p)| w * p[0]).sum();
        let slope: f64 = w.iter().zip(&parts).map(|(w, p)| w * p[1]).sum();
        (c, slope.ln())
    }

    /// With c′ = Σ w_k g′_k: ∂L/∂v = g c′ + γ Σ w_k g′_k ∂_v log g′_k / c′,
    /// ∂L/∂s_k = w_k (g ∂_s g_k + γ g′_k ∂_s log g′_k / c′), and through the softmax
    /// ∂L/∂a_j = w_j (∂L/∂w_j − Σ_k w_k ∂L/∂w_k) with ∂L/∂w_k = g g_k + γ g′_k / c′.
    fn backward(&self, v: f64, raw: &[f64], g: f64, gamma: f64, graw: &mut [f64]) -> f64 {
        let k = self.components;
        let (w, parts) = self.terms(v, raw);
        let slope: f64 = w.iter().zip(&parts).map(|(w, p)| w * p[1]).sum();
        let curvature: f64 = w.iter().zip(&parts).map(|(w, p)| w * p[1] * p[3]).sum();
        let dw: Vec<f64> = parts
            .iter()
            .map(|p| g * p[0] + gamma * p[1] / slope)
            .collect();
        let mean: f64 = w.iter().zip(&dw).map(|(w, d)| w * d).sum();
        for j in 0..k {
            let p = &parts[j];
            graw[j] += w[j] * (g * p[2] + gamma * p[1] * p[4] / slope);
            graw[k + j] += w[j] * (dw[j] - mean);
        }
        g * slope + gamma * curvature / slope
    }
}
