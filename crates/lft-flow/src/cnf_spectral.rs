//! The kernel field's convolutions in momentum space (issue 39): for a kernel that covers the
//! whole lattice, or a large part of it, the convolution v = Σ_c K_c ⋆ s_c of the channels
//! s_c (the K sine features, then φ) with their kernels costs a few FFTs instead of
//! (offsets × V) multiply-adds.
//!
//! With f̂(p) = Σ_x e^{−ip·x} f(x) and kernels K_c(δ) = w_c(o(δ)) that are even in δ,
//!   v̂(p) = Σ_c K̂_c(p) ŝ_c(p),   K̂_c(p) = Σ_o w_c(o) Ô_o(p),   Ô_o(p) = Σ_{δ ∈ o} cos(p·δ).
//! Ô_o(p) is invariant under reflections of p and under swaps of axes of equal extent (orbits
//! are closed under both), so it is tabulated per momentum class, not per momentum.
//!
//! Real channels are transformed in pairs, z = s_a + i s_b, and unpacked through
//! ŝ_a(p) = (ẑ(p) + ẑ(−p)*)/2, ŝ_b(p) = (ẑ(p) − ẑ(−p)*)/(2i); a pair of real results is
//! transformed back as one complex field. The kernels' time dependence is linear,
//! w_c(o, t) = Σ_f θ[c, o, f] b_f(t), so the spectra Θ̂[c, f](P) = Σ_o θ[c, o, f] Ô_o(P) are
//! computed once per parameter set and cached in the scratch; a time costs Σ_f b_f Θ̂[c, f].
//!
//! The backward pass needs, for a cotangent a, the correlations C_c = K_c ⋆ a (Ĉ_c = K̂_c â)
//! and the kernel gradients G[c, o] = Σ_y s_c(y) Σ_{δ ∈ o} a(y + δ)
//! = (1/V) Σ_p Ô_o(p) Re[ŝ_c(p)* â(p)] (Parseval), the sum over p taken per class first.

use lft_lattice::{Complex64, FftScratch, Lattice, LatticeFft, lattice_momentum};

/// Tables of the momentum-space convolution on one lattice.
#[derive(Debug, Clone)]
pub(crate) struct SpectralConv {
    fft: LatticeFft,
    volume: usize,
    orbits: usize,
    classes: usize,
    /// Momentum class of every momentum index (laid out like sites).
    class: Vec<u32>,
    /// The index of −p for every momentum p.
    negated: Vec<u32>,
    /// Ô_o(P) at `o * classes + P`.
    orbit_hat: Vec<f64>,
}

/// Working memory of [`SpectralConv`]: FFT buffers, the cached kernel spectra, and the
/// features' spectra of the last pass (kept for the backward pass at the same field).
#[derive(Debug, Clone, Default)]
pub(crate) struct SpectralScratch {
    fft: FftScratch,
    /// The kernel parameters θ that `spectra` was computed from.
    cached: Vec<f64>,
    /// Θ̂[c, f](P) at `(c F + f) classes + P`.
    spectra: Vec<f64>,
    /// K̂_c(P) at the current time, at `c classes + P`.
    kernel_hat: Vec<f64>,
    /// The channels' spectra in pairs, `[pairs, V]`.
    features: Vec<Complex64>,
    /// One complex field, `[V]`.
    work: Vec<Complex64>,
    /// â, `[V]`.
    cotangent: Vec<Complex64>,
    /// Σ_{p ∈ P} Re[ŝ_c(p)* â(p)] at `c classes + P`.
    cross: Vec<f64>,
    /// Deferred kernel gradients (see [`SpectralConv::correlate`]): Σ over the calls since the
    /// last flush of b_f(t) Σ_{p ∈ P} Re[ŝ_c(p)* â(p)], at `(c F + f) classes + P`.
    pending: Vec<f64>,
}

impl SpectralConv {
    /// The tables for kernels whose offsets are `offsets` (each a shift s_μ ∈ [0, L_μ) and its
    /// orbit in `0..orbits`; every orbit closed under δ → −δ).
    pub(crate) fn new(lattice: &Lattice, offsets: &[(Vec<usize>, usize)], orbits: usize) -> Self {
        let shape = lattice.shape();
        let volume = lattice.volume();
        let key_of = |n: &[usize]| {
            let mut key: Vec<(usize, usize)> = n
                .iter()
                .zip(shape)
                .map(|(&n, &l)| (l, n.min(l - n)))
                .collect();
            key.sort_unstable();
            key
        };
        let keys: Vec<Vec<(usize, usize)>> =
            (0..volume).map(|p| key_of(&lattice.coords(p))).collect();
        let mut distinct = keys.clone();
        distinct.sort();
        distinct.dedup();
        let class: Vec<u32> = keys
            .iter()
            .map(|k| distinct.binary_search(k).expect("a class key") as u32)
            .collect();
        let classes = distinct.len();
        let mut representative = vec![usize::MAX; classes];
        for (p, &c) in class.iter().enumerate().rev() {
            representative[c as usize] = p;
        }
        let negated = (0..volume).map(|p| lattice.negated(p) as u32).collect();
        let mut orbit_hat = vec![0.0; orbits * classes];
        let reps: Vec<Vec<f64>> = representative
            .iter()
            .map(|&p| lattice_momentum(lattice, p))
            .collect();
        for (shift, o) in offsets {
            let row = &mut orbit_hat[o * classes..(o + 1) * classes];
            for (hat, p) in row.iter_mut().zip(&reps) {
                let phase: f64 = p.iter().zip(shift).map(|(p, &s)| p * s as f64).sum();
                *hat += phase.cos();
            }
        }
        Self {
            fft: LatticeFft::new(lattice),
            volume,
            orbits,
            classes,
            class,
            negated,
            orbit_hat,
        }
    }

    /// Θ̂ for the kernel parameters `theta` (`[channels, orbits, F]`), unless cached.
    fn refresh_spectra(&self, theta: &[f64], f: usize, s: &mut SpectralScratch) {
        if s.cached.as_slice() == theta && !s.spectra.is_empty() {
            return;
        }
        let (orbits, classes) = (self.orbits, self.classes);
        let channels = theta.len() / (orbits * f);
        s.spectra.clear();
        s.spectra.resize(channels * f * classes, 0.0);
        for c in 0..channels {
            for o in 0..orbits {
                let hat = &self.orbit_hat[o * classes..(o + 1) * classes];
                for fi in 0..f {
                    let w = theta[(c * orbits + o) * f + fi];
                    if w != 0.0 {
                        let row =
                            &mut s.spectra[(c * f + fi) * classes..(c * f + fi + 1) * classes];
                        row.iter_mut().zip(hat).for_each(|(r, h)| *r += w * h);
                    }
                }
            }
        }
        s.cached.clear();
        s.cached.extend_from_slice(theta);
    }

    /// K̂_c(P, t) = Σ_f b_f Θ̂[c, f](P) into the scratch.
    fn kernel_at(&self, theta: &[f64], basis: &[f64], s: &mut SpectralScratch) {
        let f = basis.len();
        self.refresh_spectra(theta, f, s);
        let classes = self.classes;
        let channels = theta.len() / (self.orbits * f);
        s.kernel_hat.clear();
        s.kernel_hat.resize(channels * classes, 0.0);
        for (c, hat) in s.kernel_hat.chunks_exact_mut(classes).enumerate() {
            for (fi, b) in basis.iter().enumerate() {
                let row = &s.spectra[(c * f + fi) * classes..(c * f + fi + 1) * classes];
                hat.iter_mut().zip(row).for_each(|(h, r)| *h += b * r);
            }
        }
    }

    /// The spectra of the channels (`channel(c)` for c in 0..channels), in pairs.
    fn transform_features<'a>(
        &self,
        channels: usize,
        channel: impl Fn(usize) -> &'a [f64],
        s: &mut SpectralScratch,
    ) {
        let v = self.volume;
        s.features
            .resize(channels.div_ceil(2) * v, Complex64::default());
        for (j, z) in s.features.chunks_exact_mut(v).enumerate() {
            let re = channel(2 * j);
            if 2 * j + 1 < channels {
                let im = channel(2 * j + 1);
                z.iter_mut()
                    .zip(re.iter().zip(im))
                    .for_each(|(z, (&a, &b))| *z = Complex64::new(a, b));
            } else {
                z.iter_mut()
                    .zip(re)
                    .for_each(|(z, &a)| *z = Complex64::new(a, 0.0));
            }
            self.fft.forward_with(z, &mut s.fft);
        }
    }

    /// out = Σ_c K_c(t) ⋆ channel(c), with θ the kernel parameters `[channels, orbits, F]`
    /// and b the time basis at t. `reuse`: the channels are those of the last pass on `s`.
    pub(crate) fn convolve<'a>(
        &self,
        theta: &[f64],
        basis: &[f64],
        channel: impl Fn(usize) -> &'a [f64],
        reuse: bool,
        out: &mut [f64],
        s: &mut SpectralScratch,
    ) {
        let (v, classes) = (self.volume, self.classes);
        let channels = theta.len() / (self.orbits * basis.len());
        self.kernel_at(theta, basis, s);
        if !reuse || s.features.len() != channels.div_ceil(2) * v {
            self.transform_features(channels, channel, s);
        }
        s.work.clear();
        s.work.resize(v, Complex64::default());
        for (j, z) in s.features.chunks_exact(v).enumerate() {
            let k1 = &s.kernel_hat[2 * j * classes..(2 * j + 1) * classes];
            let k2 = s
                .kernel_hat
                .get((2 * j + 1) * classes..(2 * j + 2) * classes);
            // K̂_a ŝ_a + K̂_b ŝ_b = ½[(K̂_a − iK̂_b) ẑ(p) + (K̂_a + iK̂_b) ẑ(−p)*].
            for (p, acc) in s.work.iter_mut().enumerate() {
                let c = self.class[p] as usize;
                let (zp, zm) = (z[p], z[self.negated[p] as usize].conj());
                let a = 0.5 * k1[c];
                let b = k2.map_or(0.0, |k2| 0.5 * k2[c]);
                *acc += Complex64::new(a, -b) * zp + Complex64::new(a, b) * zm;
            }
        }
        self.fft.inverse_with(&mut s.work, &mut s.fft);
        out.iter_mut().zip(&s.work).for_each(|(o, z)| *o = z.re);
    }

    /// For the cotangent `a`: C_c = K_c(t) ⋆ a into `conv` (`[channels, V]`) and
    /// G[c, o] = Σ_y channel(c)(y) Σ_{δ ∈ o} a(y + δ) into `grads` (`[channels, orbits]`).
    /// With `defer`, `grads` is left alone and the cross-spectra, times b_f(t), are summed in
    /// the scratch instead, for [`SpectralConv::flush`] to project onto the orbits once for
    /// many calls (the projection costs channels × orbits × classes, more than the FFTs).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn correlate<'a>(
        &self,
        theta: &[f64],
        basis: &[f64],
        channel: impl Fn(usize) -> &'a [f64],
        reuse: bool,
        a: &[f64],
        conv: &mut [f64],
        grads: &mut [f64],
        defer: bool,
        s: &mut SpectralScratch,
    ) {
        let (v, classes, orbits) = (self.volume, self.classes, self.orbits);
        let channels = theta.len() / (orbits * basis.len());
        self.kernel_at(theta, basis, s);
        if !reuse || s.features.len() != channels.div_ceil(2) * v {
            self.transform_features(channels, channel, s);
        }
        s.cotangent.clear();
        s.cotangent
            .extend(a.iter().map(|&x| Complex64::new(x, 0.0)));
        self.fft.forward_with(&mut s.cotangent, &mut s.fft);
        s.cross.clear();
        s.cross.resize(channels * classes, 0.0);
        s.work.resize(v, Complex64::default());
        for (j, z) in s.features.chunks_exact(v).enumerate() {
            let (c1, c2) = (2 * j, 2 * j + 1);
            let pair = c2 < channels;
            let k1 = &s.kernel_hat[c1 * classes..(c1 + 1) * classes];
            let k2 = s.kernel_hat.get(c2 * classes..(c2 + 1) * classes);
            // Ĉ_a + i Ĉ_b = (K̂_a + i K̂_b) â, whose inverse is C_a + i C_b (both real).
            for (p, (w, ah)) in s.work.iter_mut().zip(&s.cotangent).enumerate() {
                let c = self.class[p] as usize;
                *w = Complex64::new(k1[c], k2.map_or(0.0, |k2| k2[c])) * ah;
            }
            // Cross-spectra per class: Re[ŝ_a* â] and Re[ŝ_b* â].
            let (cross_a, cross_b) = s.cross.split_at_mut(c2 * classes);
            let cross_a = &mut cross_a[c1 * classes..];
            for (p, ah) in s.cotangent.iter().enumerate() {
                let c = self.class[p] as usize;
                let (zp, zm) = (z[p], z[self.negated[p] as usize].conj());
                let sa = 0.5 * (zp + zm);
                cross_a[c] += sa.re * ah.re + sa.im * ah.im;
                if pair {
                    // ŝ_b = (ẑ(p) − ẑ(−p)*)/(2i).
                    let d = zp - zm;
                    let sb = Complex64::new(0.5 * d.im, -0.5 * d.re);
                    cross_b[c] += sb.re * ah.re + sb.im * ah.im;
                }
            }
            self.fft.inverse_with(&mut s.work, &mut s.fft);
            for (x, w) in s.work.iter().enumerate() {
                conv[c1 * v + x] = w.re;
                if pair {
                    conv[c2 * v + x] = w.im;
                }
            }
        }
        if defer {
            let f = basis.len();
            s.pending.resize(channels * f * classes, 0.0);
            for (c, cross) in s.cross.chunks_exact(classes).enumerate() {
                for (fi, b) in basis.iter().enumerate() {
                    let row = &mut s.pending[(c * f + fi) * classes..(c * f + fi + 1) * classes];
                    row.iter_mut().zip(cross).for_each(|(r, x)| *r += b * x);
                }
            }
            return;
        }
        let inv_v = 1.0 / v as f64;
        for c in 0..channels {
            let cross = &s.cross[c * classes..(c + 1) * classes];
            for o in 0..orbits {
                let hat = &self.orbit_hat[o * classes..(o + 1) * classes];
                grads[c * orbits + o] = inv_v * crate::reduce::dot(hat, cross);
            }
        }
    }

    /// Adds the deferred kernel gradients to `dtheta` (`[channels, orbits, F]`):
    /// ∂L/∂θ[c, o, f] += (1/V) Σ_P Ô_o(P) pending[c, f](P), and clears them.
    pub(crate) fn flush(&self, f: usize, dtheta: &mut [f64], s: &mut SpectralScratch) {
        if s.pending.is_empty() {
            return;
        }
        let (classes, orbits) = (self.classes, self.orbits);
        let inv_v = 1.0 / self.volume as f64;
        for (cf, pending) in s.pending.chunks_exact(classes).enumerate() {
            let (c, fi) = (cf / f, cf % f);
            for o in 0..orbits {
                let hat = &self.orbit_hat[o * classes..(o + 1) * classes];
                dtheta[(c * orbits + o) * f + fi] += inv_v * crate::reduce::dot(hat, pending);
            }
        }
        s.pending.clear();
    }
}
