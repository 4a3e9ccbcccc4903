//! The equivariant kernel vector field of a continuous normalizing flow for a scalar lattice
//! field (Gerdes, de Haan, Rainone, Bondesan, Cheng, arXiv:2207.00283; issue 39, first part):
//!   v_x(φ, t) = Σ_{δ ∈ B_r} [ Σ_k w_k(δ, t) sin(ω_k φ_{x+δ}) + u(δ, t) φ_{x+δ} ],
//! a convolution over the offsets δ of the box B_r = [−r, r]^d of learned site features: K
//! sines of learned frequencies ω_k and φ itself. Kernels depend on δ only through its orbit
//! under the hypercubic group (the sorted absolute values of its components), so v commutes
//! with translations, reflections and axis permutations; the features are odd in φ, so
//! v(−φ) = −v(φ) (Z₂). Time enters through a Fourier cosine basis on [0, 1]:
//! w_k(δ, t) = Σ_f W[k, o(δ), f] b_f(t) with b_m(t) = cos(πmt), m = 0 … M, the same for u.
//! (The cosine series of the even extension: unlike the periodic basis cos 2πmt, sin 2πmt
//! of Gerdes et al., it converges fast for kernels that differ at t = 0 and t = 1, as the
//! velocities of flow matching do: −x₀ at the start, φ₁ at the end.)
//!
//! The divergence is exact and cheap, because only the kernel's central element δ = 0 touches
//! a site's own features:
//!   ∇·v = Σ_x ∂v_x/∂φ_x = Σ_x [ Σ_k w_k(0, t) ω_k cos(ω_k φ_x) + u(0, t) ].
//!
//! Parameters, in this order: ω (K), W (K × orbits × F, last index fastest), U (orbits × F),
//! with F = M + 1 time-basis functions.

use crate::cnf_spectral::{SpectralConv, SpectralScratch};
use crate::reduce::{dot, dot3, lane_sum};
use lft_lattice::{Lattice, Pcg64, gaussian_fill};

/// How the field computes its convolutions: gathers over the kernel's offsets (cost ∝ offsets
/// × V), or FFTs (cost ∝ (K/2 + 1) V log V, whatever the kernel's size). The two agree to
/// rounding (tested).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Convolution {
    /// FFTs when the kernel has more offsets than [`FFT_MIN_OFFSETS`] (measured crossover,
    /// docs/PERFORMANCE.md), else gathers.
    #[default]
    Auto,
    Direct,
    Fft,
}

/// Kernels with more offsets than this convolve by FFT under [`Convolution::Auto`]: at L = 32,
/// K = 8, gathers are faster up to radius 3 (49 offsets), the two tie at radius 4 (81), and the
/// FFTs cost the same for any larger kernel (`cargo bench -p lft-flow --bench cnf`).
pub const FFT_MIN_OFFSETS: usize = 81;

/// The kernel vector field on one lattice: the offsets of its box, grouped by orbit, and the
/// site tables of the shifts.
#[derive(Debug, Clone)]
pub struct KernelField {
    volume: usize,
    frequencies: usize,
    time_modes: usize,
    radius: usize,
    /// Orbit of δ = 0.
    center: usize,
    /// The key of every orbit: the sorted folded |δ_μ| of its offsets.
    keys: Vec<Vec<usize>>,
    /// `orbit_shifts[o]`: every offset δ of orbit o, as a shift of rows.
    orbit_shifts: Vec<Vec<RowShift>>,
    /// Sites per row (the extent of the last, fastest direction).
    row_len: usize,
    /// The convolutions in momentum space, when chosen.
    spectral: Option<SpectralConv>,
    convolution: Convolution,
}

/// The periodic shift x ↦ x + δ in row form: the source row of every row (all directions but
/// the last), and the shift within rows (the last direction), so a gather is two contiguous
/// runs per row.
#[derive(Debug, Clone)]
struct RowShift {
    rows: Vec<usize>,
    col: usize,
}

/// Working memory of [`KernelField::velocity_with`] and [`KernelField::vjp`]: the site
/// features, the kernels at one time and per-orbit sums. Holds nothing between calls.
#[derive(Debug, Clone, Default)]
pub struct FieldScratch {
    /// sin(ω_k φ_y), `[K, V]`.
    sin: Vec<f64>,
    /// cos(ω_k φ_y), `[K, V]`.
    cos: Vec<f64>,
    /// Per orbit o: h_o(y) = Σ_k w_k(o) sin(ω_k φ_y) + u(o) φ_y (forward), or
    /// A_o(y) = Σ_{δ ∈ o} a_{y+δ} (backward); `[orbits, V]`.
    orbit: Vec<f64>,
    /// C_k(y) = Σ_o w_k(o) A_o(y), `[K, V]` (backward).
    conv: Vec<f64>,
    /// The kernels at time t: w `[K, orbits]`, then u `[orbits]`.
    kernel: Vec<f64>,
    /// The time basis b_f(t).
    basis: Vec<f64>,
    /// Per channel c (the sines, then φ) and orbit o: Σ_y s_c(y) A_o(y) (backward),
    /// `[K + 1, orbits]`.
    grads: Vec<f64>,
    /// Buffers of the FFT convolutions.
    spectral: SpectralScratch,
    /// The next pass takes `sin` and `cos` as they are (see [`FieldScratch::reuse_features`]).
    reuse: bool,
    /// VJPs on this scratch leave the FFT path's kernel gradients pending until
    /// [`KernelField::flush_gradients`] (see [`FieldScratch::defer_gradients`]).
    defer: bool,
}

impl FieldScratch {
    /// The next [`KernelField::vjp`] (or velocity) on this scratch reuses the site features of
    /// the last pass instead of computing them again: the caller guarantees the same
    /// frequencies and the same φ (the backward pass of the ODE solver, which differentiates
    /// each stage at the field where it just evaluated v).
    pub(crate) fn reuse_features(&mut self) {
        self.reuse = true;
    }

    /// From now on, VJPs through FFTs on this scratch sum their kernel gradients in momentum
    /// space and leave them out of `dparams` until [`KernelField::flush_gradients`], which
    /// projects them onto the orbits once for all of them (the ODE solver's backward passes).
    pub(crate) fn defer_gradients(&mut self) {
        self.defer = true;
    }
}

impl KernelField {
    /// The field with kernel radius `radius`: the offsets δ whose every component, folded
    /// into (−L_μ/2, L_μ/2], has |δ_μ| ≤ r (the box side 2r + 1 for 2r < L_μ; the whole
    /// lattice for r ≥ L_μ/2, each offset counted once), `frequencies` sine features and
    /// `time_modes` Fourier modes M of time; convolutions as [`Convolution::Auto`] chooses.
    pub fn new(lattice: &Lattice, radius: usize, frequencies: usize, time_modes: usize) -> Self {
        Self::with_convolution(lattice, radius, frequencies, time_modes, Convolution::Auto)
    }

    /// [`KernelField::new`] with the convolutions computed as `convolution` says.
    pub fn with_convolution(
        lattice: &Lattice,
        radius: usize,
        frequencies: usize,
        time_modes: usize,
        convolution: Convolution,
    ) -> Self {
        let shape = lattice.shape();
        // Per direction, the shifts s ∈ [0, L) with folded |s| ≤ r, and their folded |s|.
        let per_dim: Vec<Vec<(usize, usize)>> = shape
            .iter()
            .map(|&l| {
                (0..l)
                    .map(|s| (s, s.min(l - s)))
                    .filter(|&(_, folded)| folded <= radius)
                    .collect()
            })
            .collect();
        let mut offsets: Vec<(Vec<usize>, Vec<usize>)> = vec![(Vec::new(), Vec::new())];
        for choices in &per_dim {
            offsets = offsets
                .into_iter()
                .flat_map(|(shift, key)| {
                    choices.iter().map(move |&(s, folded)| {
                        let (mut shift, mut key) = (shift.clone(), key.clone());
                        shift.push(s);
                        key.push(folded);
                        (shift, key)
                    })
                })
                .collect();
        }
        offsets.iter_mut().for_each(|(_, key)| key.sort_unstable());
        let mut keys: Vec<Vec<usize>> = offsets.iter().map(|(_, key)| key.clone()).collect();
        keys.sort();
        keys.dedup();
        let d = lattice.dim();
        let center = keys
            .binary_search(&vec![0; d])
            .expect("the box holds δ = 0");
        let row_len = shape[shape.len() - 1];
        let mut orbit_shifts = vec![Vec::new(); keys.len()];
        for (shift, key) in &offsets {
            let o = keys.binary_search(key).expect("a key of the kernel");
            let mut row_shift = shift.clone();
            let col = row_shift[shape.len() - 1];
            row_shift[shape.len() - 1] = 0;
            let rows = (0..lattice.volume() / row_len)
                .map(|r| lattice.shifted(r * row_len, &row_shift) / row_len)
                .collect();
            orbit_shifts[o].push(RowShift { rows, col });
        }
        let fft = match convolution {
            Convolution::Auto => offsets.len() > FFT_MIN_OFFSETS,
            Convolution::Direct => false,
            Convolution::Fft => true,
        };
        let spectral = fft.then(|| {
            let with_orbits: Vec<(Vec<usize>, usize)> = offsets
                .iter()
                .map(|(shift, key)| (shift.clone(), keys.binary_search(key).expect("a key")))
                .collect();
            SpectralConv::new(lattice, &with_orbits, keys.len())
        });
        Self {
            volume: lattice.volume(),
            frequencies,
            time_modes,
            radius,
            center,
            keys,
            orbit_shifts,
            row_len,
            spectral,
            convolution,
        }
    }

    /// The same field on another lattice of the same dimension (volume transfer): the
    /// parameters depend only on the kernel radius, the frequencies and the time modes.
    pub fn on(&self, lattice: &Lattice) -> Self {
        Self::with_convolution(
            lattice,
            self.radius,
            self.frequencies,
            self.time_modes,
            self.convolution,
        )
    }

    /// This field's parameters from those of `from` (the same frequencies and time modes, a
    /// lattice of the same dimension but another size): ω as they are, and every kernel weight
    /// at the orbit of the same key (sorted folded |δ_μ|); orbits that only this field has
    /// start at zero, orbits that only `from` has are dropped. For a local kernel that fits
    /// both lattices the orbits are the same and so are the parameters; a whole-lattice kernel
    /// keeps its weights out to the smaller lattice's half extent.
    pub fn transfer_params(&self, from: &KernelField, params: &[f64]) -> Result<Vec<f64>, String> {
        if (from.frequencies, from.time_modes) != (self.frequencies, self.time_modes) {
            return Err(format!(
                "{} frequencies and {} time modes against {} and {}",
                from.frequencies, from.time_modes, self.frequencies, self.time_modes
            ));
        }
        if params.len() != from.n_params() {
            return Err(format!(
                "{} parameters for a field of {}",
                params.len(),
                from.n_params()
            ));
        }
        let (k, f) = (self.frequencies, self.time_basis_len());
        let mut out = vec![0.0; self.n_params()];
        out[..k].copy_from_slice(&params[..k]);
        for (o_from, key) in from.keys.iter().enumerate() {
            let Ok(o_to) = self.keys.binary_search(key) else {
                continue;
            };
            for c in 0..=k {
                let src = k + (c * from.orbits() + o_from) * f;
                let dst = k + (c * self.orbits() + o_to) * f;
                out[dst..dst + f].copy_from_slice(&params[src..src + f]);
            }
        }
        Ok(out)
    }

    /// Adds the kernel gradients that VJPs on `s` left pending to `dparams` and ends the
    /// deferral (see [`FieldScratch::defer_gradients`]); nothing to do for gathers.
    pub(crate) fn flush_gradients(&self, s: &mut FieldScratch, dparams: &mut [f64]) {
        if let Some(spectral) = &self.spectral {
            let k = self.frequencies;
            spectral.flush(self.time_basis_len(), &mut dparams[k..], &mut s.spectral);
        }
        s.defer = false;
    }

    /// Whether the convolutions run by FFT.
    pub fn uses_fft(&self) -> bool {
        self.spectral.is_some()
    }

    pub fn volume(&self) -> usize {
        self.volume
    }

    /// F = M + 1 functions of time.
    pub fn time_basis_len(&self) -> usize {
        self.time_modes + 1
    }

    /// Orbits of the box's offsets under the hypercubic group.
    pub fn orbits(&self) -> usize {
        self.orbit_shifts.len()
    }

    pub fn n_params(&self) -> usize {
        let f = self.time_basis_len();
        self.frequencies + (self.frequencies + 1) * self.orbits() * f
    }

    /// Initial parameters: frequencies spread over (0, 5] (5k/K with a little noise, the
    /// range of Gerdes et al.'s uniform draw), and kernel weights N(0, scale²); `scale = 0`
    /// gives v = 0, the identity map.
    pub fn init_params(&self, rng: &mut Pcg64, scale: f64) -> Vec<f64> {
        let mut p = vec![0.0; self.n_params()];
        let k = self.frequencies;
        gaussian_fill(rng, &mut p);
        for (i, w) in p[..k].iter_mut().enumerate() {
            *w = 5.0 * (i as f64 + 1.0) / k as f64 + 0.05 * *w;
        }
        p[k..].iter_mut().for_each(|w| *w *= scale);
        p
    }

    /// b_m(t) = cos(πmt) for m = 0 … M into `b`.
    fn time_basis(&self, t: f64, b: &mut Vec<f64>) {
        b.clear();
        b.extend((0..=self.time_modes).map(|m| (std::f64::consts::PI * m as f64 * t).cos()));
    }

    /// The kernels at time t into `kernel`: w_k(o) at `k * orbits + o`, then u(o) at
    /// `K * orbits + o`.
    fn kernels(&self, params: &[f64], basis: &[f64], kernel: &mut Vec<f64>) {
        let f = basis.len();
        let k = self.frequencies;
        kernel.clear();
        kernel.extend(
            params[k..]
                .chunks_exact(f)
                .map(|c| c.iter().zip(basis).map(|(p, b)| p * b).sum::<f64>()),
        );
    }

    /// sin(ω_k φ_y) and cos(ω_k φ_y) of every feature and site.
    fn features(&self, omegas: &[f64], phi: &[f64], s: &mut FieldScratch) {
        let v = self.volume;
        s.sin.resize(self.frequencies * v, 0.0);
        s.cos.resize(self.frequencies * v, 0.0);
        for ((om, sin), cos) in omegas
            .iter()
            .zip(s.sin.chunks_exact_mut(v))
            .zip(s.cos.chunks_exact_mut(v))
        {
            crate::sincos::sin_cos_scaled(*om, phi, sin, cos);
        }
    }

    /// The time basis, the kernels at t and (unless reused) the site features; returns whether
    /// the last pass's features were reused.
    #[inline(always)]
    fn prepare(&self, params: &[f64], phi: &[f64], t: f64, s: &mut FieldScratch) -> bool {
        assert_eq!(params.len(), self.n_params(), "parameter count");
        assert_eq!(phi.len(), self.volume, "field size");
        self.time_basis(t, &mut s.basis);
        let basis = std::mem::take(&mut s.basis);
        self.kernels(params, &basis, &mut s.kernel);
        s.basis = basis;
        let reused = std::mem::take(&mut s.reuse);
        if !reused {
            self.features(&params[..self.frequencies], phi, s);
        }
        reused
    }

    /// out_x += f_{x+δ} for the shift δ.
    #[inline(always)]
    fn gather_add(&self, shift: &RowShift, f: &[f64], out: &mut [f64]) {
        let (n, c) = (self.row_len, shift.col);
        for (out_row, &src) in out.chunks_exact_mut(n).zip(&shift.rows) {
            let src = &f[src * n..(src + 1) * n];
            let (head, tail) = out_row.split_at_mut(n - c);
            head.iter_mut().zip(&src[c..]).for_each(|(o, x)| *o += x);
            tail.iter_mut().zip(&src[..c]).for_each(|(o, x)| *o += x);
        }
    }

    /// v(φ, t) into `out` (with its own scratch); returns the divergence ∇·v.
    pub fn velocity(&self, params: &[f64], phi: &[f64], t: f64, out: &mut [f64]) -> f64 {
        self.velocity_with(params, phi, t, out, &mut FieldScratch::default())
    }

    /// v(φ, t) into `out`; returns the divergence ∇·v (module documentation). Computed as
    /// h_o = Σ_k w_k(o) sin(ω_k φ) + u(o) φ per orbit, then v_x = Σ_o Σ_{δ ∈ o} h_o(x + δ).
    pub fn velocity_with(
        &self,
        params: &[f64],
        phi: &[f64],
        t: f64,
        out: &mut [f64],
        s: &mut FieldScratch,
    ) -> f64 {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                return unsafe { self.velocity_avx512(params, phi, t, out, s) };
            }
        }
        self.velocity_body(params, phi, t, out, s)
    }

    /// [`KernelField::velocity_with`] compiled for AVX-512 (wider vectors, the same operations
    /// in the same order, so bit-identical).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn velocity_avx512(
        &self,
        params: &[f64],
        phi: &[f64],
        t: f64,
        out: &mut [f64],
        s: &mut FieldScratch,
    ) -> f64 {
        self.velocity_body(params, phi, t, out, s)
    }

    #[inline(always)]
    fn velocity_body(
        &self,
        params: &[f64],
        phi: &[f64],
        t: f64,
        out: &mut [f64],
        s: &mut FieldScratch,
    ) -> f64 {
        let reused = self.prepare(params, phi, t, s);
        let (v, k, n_orbits) = (self.volume, self.frequencies, self.orbits());
        let omegas = &params[..k];
        if let Some(spectral) = &self.spectral {
            let sin = &s.sin;
            let channel = |c: usize| if c < k { &sin[c * v..(c + 1) * v] } else { phi };
            spectral.convolve(
                &params[k..],
                &s.basis,
                channel,
                reused,
                out,
                &mut s.spectral,
            );
        } else {
            s.orbit.resize(n_orbits * v, 0.0);
            for (o, h) in s.orbit.chunks_exact_mut(v).enumerate() {
                let u = s.kernel[k * n_orbits + o];
                h.iter_mut().zip(phi).for_each(|(h, p)| *h = u * p);
                for (ki, sin) in s.sin.chunks_exact(v).enumerate() {
                    let w = s.kernel[ki * n_orbits + o];
                    h.iter_mut().zip(sin).for_each(|(h, sn)| *h += w * sn);
                }
            }
            out.fill(0.0);
            for (h, shifts) in s.orbit.chunks_exact(v).zip(&self.orbit_shifts) {
                for shift in shifts {
                    self.gather_add(shift, h, out);
                }
            }
        }
        let c = self.center;
        let mut div = v as f64 * s.kernel[k * n_orbits + c];
        for ((om, cos), ki) in omegas.iter().zip(s.cos.chunks_exact(v)).zip(0..) {
            div += s.kernel[ki * n_orbits + c] * om * lane_sum(cos);
        }
        div
    }

    /// The vector–Jacobian product of (v, ∇·v) at (φ, t): for L with ∂L/∂v = `a` and
    /// ∂L/∂(∇·v) = γ, writes ∂L/∂φ into `dphi` and adds ∂L/∂θ to `dparams`:
    ///   ∂L/∂φ_y = Σ_k ω_k cos(ω_k φ_y) C_k(y) + Σ_o u(o) A_o(y) − γ Σ_k w_k(0) ω_k² sin(ω_k φ_y),
    ///   ∂L/∂w_k(o) = Σ_y sin(ω_k φ_y) A_o(y) + [o = 0] γ ω_k Σ_y cos(ω_k φ_y),
    ///   ∂L/∂u(o) = Σ_y φ_y A_o(y) + [o = 0] γ V,
    ///   ∂L/∂ω_k = Σ_y φ_y cos(ω_k φ_y) C_k(y) + γ w_k(0) Σ_y [cos(ω_k φ_y) − ω_k φ_y sin(ω_k φ_y)],
    /// with A_o(y) = Σ_{δ ∈ o} a_{y+δ} (orbits are closed under δ → −δ) and
    /// C_k(y) = Σ_o w_k(o) A_o(y); the kernels' gradients go to W and U times b_f(t).
    #[allow(clippy::too_many_arguments)]
    pub fn vjp(
        &self,
        params: &[f64],
        phi: &[f64],
        t: f64,
        a: &[f64],
        gamma: f64,
        dphi: &mut [f64],
        dparams: &mut [f64],
        s: &mut FieldScratch,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                return unsafe { self.vjp_avx512(params, phi, t, a, gamma, dphi, dparams, s) };
            }
        }
        self.vjp_body(params, phi, t, a, gamma, dphi, dparams, s)
    }

    /// [`KernelField::vjp`] compiled for AVX-512 (bit-identical, as above).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn vjp_avx512(
        &self,
        params: &[f64],
        phi: &[f64],
        t: f64,
        a: &[f64],
        gamma: f64,
        dphi: &mut [f64],
        dparams: &mut [f64],
        s: &mut FieldScratch,
    ) {
        self.vjp_body(params, phi, t, a, gamma, dphi, dparams, s)
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn vjp_body(
        &self,
        params: &[f64],
        phi: &[f64],
        t: f64,
        a: &[f64],
        gamma: f64,
        dphi: &mut [f64],
        dparams: &mut [f64],
        s: &mut FieldScratch,
    ) {
        let reused = self.prepare(params, phi, t, s);
        let (v, k, n_orbits) = (self.volume, self.frequencies, self.orbits());
        let c = self.center;
        let omegas = &params[..k];
        // Channels: the K sines, then φ; C_ch = K_ch ⋆ a and G[ch, o] = Σ_y s_ch(y) A_o(y).
        let channels = k + 1;
        s.conv.resize(channels * v, 0.0);
        s.grads.resize(channels * n_orbits, 0.0);
        let sin = &s.sin;
        let channel = |c: usize| if c < k { &sin[c * v..(c + 1) * v] } else { phi };
        if let Some(spectral) = &self.spectral {
            spectral.correlate(
                &params[k..],
                &s.basis,
                channel,
                reused,
                a,
                &mut s.conv,
                &mut s.grads,
                s.defer,
                &mut s.spectral,
            );
            if s.defer {
                s.grads.fill(0.0);
            }
        } else {
            s.orbit.resize(n_orbits * v, 0.0);
            s.orbit.fill(0.0);
            for (big_a, shifts) in s.orbit.chunks_exact_mut(v).zip(&self.orbit_shifts) {
                for shift in shifts {
                    self.gather_add(shift, a, big_a);
                }
            }
            for (ch, conv) in s.conv.chunks_exact_mut(v).enumerate() {
                conv.fill(0.0);
                for (o, big_a) in s.orbit.chunks_exact(v).enumerate() {
                    let w = s.kernel[ch * n_orbits + o];
                    conv.iter_mut().zip(big_a).for_each(|(cv, x)| *cv += w * x);
                }
                let feature = channel(ch);
                for (o, big_a) in s.orbit.chunks_exact(v).enumerate() {
                    s.grads[ch * n_orbits + o] = dot(feature, big_a);
                }
            }
        }
        // ∂L/∂φ: the linear channel's U ⋆ a, then the sines'.
        dphi.copy_from_slice(&s.conv[k * v..]);
        for ki in 0..k {
            let (om, w0) = (omegas[ki], s.kernel[ki * n_orbits + c]);
            let rows = ki * v..(ki + 1) * v;
            let g = gamma * w0 * om * om;
            for (((d, cs), sn), cv) in dphi
                .iter_mut()
                .zip(&s.cos[rows.clone()])
                .zip(&s.sin[rows.clone()])
                .zip(&s.conv[rows])
            {
                *d += om * cs * cv - g * sn;
            }
        }
        // ∂L/∂θ: channel ch's kernel at orbit o starts at k + (ch orbits + o) F.
        let f = s.basis.len();
        for ch in 0..channels {
            let center_term = if ch < k {
                gamma * omegas[ch] * lane_sum(&s.cos[ch * v..(ch + 1) * v])
            } else {
                gamma * v as f64
            };
            for o in 0..n_orbits {
                let mut grad = s.grads[ch * n_orbits + o];
                if o == c {
                    grad += center_term;
                }
                let start = k + (ch * n_orbits + o) * f;
                for (d, b) in dparams[start..start + f].iter_mut().zip(&s.basis) {
                    *d += grad * b;
                }
            }
        }
        for ki in 0..k {
            let (om, w0) = (omegas[ki], s.kernel[ki * n_orbits + c]);
            let rows = ki * v..(ki + 1) * v;
            let (cos, sin) = (&s.cos[rows.clone()], &s.sin[rows.clone()]);
            let d_om = dot3(phi, cos, &s.conv[rows]);
            let d_div = lane_sum(cos) - om * dot(phi, sin);
            dparams[ki] += d_om + gamma * w0 * d_div;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lft_lattice::stream_rng;

    fn field(shape: &[usize]) -> (Lattice, KernelField, Vec<f64>) {
        field_by(shape, 1, Convolution::Direct)
    }

    fn field_by(
        shape: &[usize],
        radius: usize,
        conv: Convolution,
    ) -> (Lattice, KernelField, Vec<f64>) {
        let lattice = Lattice::new(shape).unwrap();
        let f = KernelField::with_convolution(&lattice, radius, 3, 2, conv);
        let params = f.init_params(&mut stream_rng(1, 0), 0.3);
        (lattice, f, params)
    }

    /// A whole-lattice kernel on 6 × 6 moves to 10 × 10: the 10 orbits with folded |δ_μ| ≤ 3
    /// keep their weights, the others start at zero; moved back, the parameters are the same;
    /// a local kernel's parameters move unchanged.
    #[test]
    fn kernel_weights_transfer_by_orbit() {
        let (_, small, params) = field_by(&[6, 6], 6, Convolution::Direct);
        let big = small.on(&Lattice::new(&[10, 10]).unwrap());
        assert_eq!((small.orbits(), big.orbits()), (10, 21));
        let moved = big.transfer_params(&small, &params).unwrap();
        let kept = moved.iter().filter(|&&p| p != 0.0).count();
        assert_eq!(kept, 3 + 4 * 10 * 3);
        assert_eq!(small.transfer_params(&big, &moved).unwrap(), params);
        let (_, local, p) = field_by(&[6, 6], 1, Convolution::Direct);
        let local_big = local.on(&Lattice::new(&[10, 10]).unwrap());
        assert_eq!(local_big.transfer_params(&local, &p).unwrap(), p);
        let other = KernelField::new(&Lattice::new(&[10, 10]).unwrap(), 1, 4, 2);
        assert!(other.transfer_params(&local, &p).is_err());
        assert!(local_big.transfer_params(&local, &p[1..]).is_err());
    }

    /// Both ways of convolving, the kernel of radius one and the whole lattice's.
    const METHODS: [(usize, Convolution); 3] = [
        (1, Convolution::Direct),
        (1, Convolution::Fft),
        (9, Convolution::Fft),
    ];

    /// The FFT convolutions give the gathers' v, ∇·v and VJP (to rounding) on square,
    /// oblong, odd and 3D lattices, for local and whole-lattice kernels; one scratch serves
    /// two parameter sets (the kernel spectra's cache follows the parameters), and a VJP that
    /// reuses the last velocity's features and spectra equals a fresh one.
    #[test]
    fn fft_convolutions_match_the_gathers() {
        for (shape, radius) in [
            (vec![6, 6], 1),
            (vec![8, 8], 2),
            (vec![6, 6], 3),
            (vec![4, 6], 3),
            (vec![5, 7], 4),
            (vec![4, 4, 2], 2),
        ] {
            let (lattice, direct, _) = field_by(&shape, radius, Convolution::Direct);
            let (_, fft, _) = field_by(&shape, radius, Convolution::Fft);
            assert!(fft.uses_fft() && !direct.uses_fft());
            let v = lattice.volume();
            let mut phi = vec![0.0; v];
            gaussian_fill(&mut stream_rng(6, 0), &mut phi);
            let mut a = vec![0.0; v];
            gaussian_fill(&mut stream_rng(7, 0), &mut a);
            let (mut s_direct, mut s_fft) = (FieldScratch::default(), FieldScratch::default());
            for seed in [11, 12] {
                let params = direct.init_params(&mut stream_rng(seed, 0), 0.3);
                let t = 0.1 * seed as f64 - 1.0;
                let close = |x: f64, y: f64| (x - y).abs() < 1e-12 * (1.0 + x.abs());
                let (mut v1, mut v2) = (vec![0.0; v], vec![0.0; v]);
                let d1 = direct.velocity_with(&params, &phi, t, &mut v1, &mut s_direct);
                let d2 = fft.velocity_with(&params, &phi, t, &mut v2, &mut s_fft);
                assert!(close(d1, d2), "{shape:?}: divergence {d1} vs {d2}");
                for x in 0..v {
                    assert!(
                        close(v1[x], v2[x]),
                        "{shape:?} r {radius} site {x}: {} vs {}",
                        v1[x],
                        v2[x]
                    );
                }
                let n = params.len();
                let (mut g1, mut g2, mut g3) = (vec![0.0; v], vec![0.0; v], vec![0.0; v]);
                let (mut p1, mut p2, mut p3) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
                direct.vjp(&params, &phi, t, &a, 0.4, &mut g1, &mut p1, &mut s_direct);
                s_fft.reuse_features();
                fft.vjp(&params, &phi, t, &a, 0.4, &mut g2, &mut p2, &mut s_fft);
                fft.vjp(
                    &params,
                    &phi,
                    t,
                    &a,
                    0.4,
                    &mut g3,
                    &mut p3,
                    &mut FieldScratch::default(),
                );
                for x in 0..v {
                    assert!(
                        close(g1[x], g2[x]) && g2[x] == g3[x],
                        "{shape:?} dphi {x}: {} {} {}",
                        g1[x],
                        g2[x],
                        g3[x]
                    );
                }
                for i in 0..n {
                    assert!(
                        close(p1[i], p2[i]) && p2[i] == p3[i],
                        "{shape:?} dparam {i}: {} {} {}",
                        p1[i],
                        p2[i],
                        p3[i]
                    );
                }
            }
        }
    }

    #[test]
    fn the_box_of_radius_one_has_three_orbits_in_2d() {
        let (_, f, _) = field(&[4, 6]);
        // (0,0), (0,1) and (1,1).
        assert_eq!(f.orbits(), 3);
        assert_eq!(f.n_params(), 3 + 4 * 3 * 3);
    }

    /// ∇·v against the trace of the Jacobian by central differences.
    #[test]
    fn the_divergence_is_the_trace_of_the_jacobian() {
        for (radius, conv) in METHODS {
            let (lattice, f, params) = field_by(&[4, 6], radius, conv);
            let v = lattice.volume();
            let mut phi = vec![0.0; v];
            gaussian_fill(&mut stream_rng(2, 0), &mut phi);
            let mut out = vec![0.0; v];
            let t = 0.37;
            let div = f.velocity(&params, &phi, t, &mut out);
            let h = 1e-6;
            let mut trace = 0.0;
            let (mut up, mut down) = (vec![0.0; v], vec![0.0; v]);
            for x in 0..v {
                let p0 = phi[x];
                phi[x] = p0 + h;
                f.velocity(&params, &phi, t, &mut up);
                phi[x] = p0 - h;
                f.velocity(&params, &phi, t, &mut down);
                phi[x] = p0;
                trace += (up[x] - down[x]) / (2.0 * h);
            }
            assert!(
                (div - trace).abs() < 1e-7 * trace.abs().max(1.0),
                "{conv:?}: {div} vs {trace}"
            );
        }
    }

    /// v commutes with translations, reflections and the axis swap, and is odd in φ.
    #[test]
    fn the_field_is_equivariant() {
        for (radius, conv) in METHODS {
            let (lattice, f, params) = field_by(&[6, 6], radius, conv);
            let v = lattice.volume();
            let mut phi = vec![0.0; v];
            gaussian_fill(&mut stream_rng(3, 0), &mut phi);
            let mut base = vec![0.0; v];
            let t = 0.8;
            f.velocity(&params, &phi, t, &mut base);
            let maps: Vec<Box<dyn Fn(usize) -> usize>> = vec![
                Box::new(|x| lattice.shifted(x, &[1, 2])),
                Box::new(|x| {
                    let c = lattice.coords(x);
                    lattice.index(&[(6 - c[0]) % 6, c[1]])
                }),
                Box::new(|x| {
                    let c = lattice.coords(x);
                    lattice.index(&[c[1], c[0]])
                }),
            ];
            for (i, g) in maps.iter().enumerate() {
                // (g φ)_{g(x)} = φ_x, and then v(g φ)_{g(x)} must be v(φ)_x.
                let mut moved = vec![0.0; v];
                (0..v).for_each(|x| moved[g(x)] = phi[x]);
                let mut out = vec![0.0; v];
                f.velocity(&params, &moved, t, &mut out);
                for x in 0..v {
                    assert!(
                        (out[g(x)] - base[x]).abs() < 1e-12,
                        "{conv:?}: map {i}, site {x}"
                    );
                }
            }
            let neg: Vec<f64> = phi.iter().map(|p| -p).collect();
            let mut out = vec![0.0; v];
            f.velocity(&params, &neg, t, &mut out);
            for x in 0..v {
                assert!((out[x] + base[x]).abs() < 1e-12);
            }
        }
    }

    /// L = a·v + γ ∇·v; its gradients by `vjp` against central differences, for φ and for
    /// every parameter.
    #[test]
    fn the_vjp_matches_finite_differences() {
        for (radius, conv) in METHODS {
            let (lattice, f, params) = field_by(&[4, 6], radius, conv);
            let v = lattice.volume();
            let mut phi = vec![0.0; v];
            gaussian_fill(&mut stream_rng(4, 0), &mut phi);
            let mut a = vec![0.0; v];
            gaussian_fill(&mut stream_rng(5, 0), &mut a);
            let (t, gamma) = (0.63, 0.7);
            let loss = |params: &[f64], phi: &[f64]| {
                let mut out = vec![0.0; v];
                let div = f.velocity(params, phi, t, &mut out);
                out.iter().zip(&a).map(|(o, x)| o * x).sum::<f64>() + gamma * div
            };
            let mut dphi = vec![0.0; v];
            let mut dparams = vec![0.0; params.len()];
            let mut s = FieldScratch::default();
            f.vjp(&params, &phi, t, &a, gamma, &mut dphi, &mut dparams, &mut s);
            let h = 1e-6;
            for x in 0..v {
                let mut up = phi.clone();
                up[x] += h;
                let mut down = phi.clone();
                down[x] -= h;
                let fd = (loss(&params, &up) - loss(&params, &down)) / (2.0 * h);
                assert!(
                    (dphi[x] - fd).abs() < 1e-6 * fd.abs().max(1.0),
                    "site {x}: {} vs {fd}",
                    dphi[x]
                );
            }
            for i in 0..params.len() {
                let mut up = params.clone();
                up[i] += h;
                let mut down = params.clone();
                down[i] -= h;
                let fd = (loss(&up, &phi) - loss(&down, &phi)) / (2.0 * h);
                assert!(
                    (dparams[i] - fd).abs() < 1e-6 * fd.abs().max(1.0),
                    "{conv:?}: parameter {i}: {} vs {fd}",
                    dparams[i]
                );
            }
        }
    }
}
