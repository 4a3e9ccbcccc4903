//! Periodic ("circular") convolutions on a lattice of dimension 1–4.
//!
//! y[o, x] = b[o] + Σ_i Σ_δ W[o, i, δ] h[i, x + δ], with δ over the k^d offsets of an odd kernel
//! (each component in −r … r, r = (k−1)/2) and x + δ taken periodically. Backward, with
//! g = ∂L/∂y:
//!   ∂L/∂b[o] = Σ_x g[o, x],  ∂L/∂W[o, i, δ] = Σ_x g[o, x] h[i, x + δ],
//!   ∂L/∂h[i, z] = Σ_o Σ_δ W[o, i, δ] g[o, z − δ].
//! Computed through patches (im2col): Pt[(i, δ), x] = h[i, x + δ] is gathered once, so that the
//! products run over contiguous rows; ∂L/∂h is the scatter of Σ_o W[o, (i, δ)] g[o, x] back to
//! the sites x + δ.

use lft_lattice::Lattice;

/// Σ_x a_x b_x with eight independent accumulators, so the compiler can vectorise it (a
/// single running sum is a strictly ordered reduction that it must not reorder).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Kernel offsets of one lattice, as site-shift tables: `shift[δ][x]` is the site x + δ.
#[derive(Debug, Clone)]
pub struct KernelShifts {
    volume: usize,
    /// `[K][V]`.
    shift: Vec<Vec<u32>>,
}

impl KernelShifts {
    /// Offsets of an odd kernel of size `k` on `lattice` (k ≤ the smallest extent).
    pub fn new(lattice: &Lattice, k: usize) -> Self {
        assert!(k % 2 == 1, "kernel size must be odd");
        let d = lattice.dim();
        let r = (k / 2) as isize;
        let count = k.pow(d as u32);
        let mut offsets = Vec::with_capacity(count);
        for idx in 0..count {
            let mut rem = idx;
            let mut off = vec![0isize; d];
            for mu in (0..d).rev() {
                off[mu] = (rem % k) as isize - r;
                rem /= k;
            }
            offsets.push(off);
        }
        let shape = lattice.shape();
        let shift = offsets
            .iter()
            .map(|off| {
                let mut c = vec![0usize; d];
                (0..lattice.volume())
                    .map(|x| {
                        lattice.coords_into(x, &mut c);
                        for mu in 0..d {
                            let l = shape[mu] as isize;
                            c[mu] = (c[mu] as isize + off[mu]).rem_euclid(l) as usize;
                        }
                        lattice.index(&c) as u32
                    })
                    .collect()
            })
            .collect();
        Self {
            volume: lattice.volume(),
            shift,
        }
    }

    pub fn len(&self) -> usize {
        self.shift.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shift.is_empty()
    }
}

/// A periodic convolution with `c_in` input and `c_out` output channels. Parameters are laid
/// out as W `[c_out, c_in, K]` followed by b `[c_out]`.
#[derive(Debug, Clone)]
pub struct PeriodicConv {
    pub c_in: usize,
    pub c_out: usize,
    kernel: usize,
}

impl PeriodicConv {
    pub fn new(c_in: usize, c_out: usize, shifts: &KernelShifts) -> Self {
        Self {
            c_in,
            c_out,
            kernel: shifts.len(),
        }
    }

    /// Number of parameters: c_out·c_in·K + c_out.
    pub fn n_params(&self) -> usize {
        self.c_out * self.c_in * self.kernel + self.c_out
    }

    /// The patches of `h` `[c_in, V]`: Pt[i·K + k, x] = h[i, x + δ_k], written into `out`
    /// (`[c_in·K, V]`). Every later loop then runs over contiguous rows.
    pub fn patches(&self, shifts: &KernelShifts, h: &[f64], out: &mut Vec<f64>) {
        let v = shifts.volume;
        out.resize(self.c_in * self.kernel * v, 0.0);
        for i in 0..self.c_in {
            let hi = &h[i * v..(i + 1) * v];
            for (k, table) in shifts.shift.iter().enumerate() {
                let row = &mut out[(i * self.kernel + k) * v..(i * self.kernel + k + 1) * v];
                for (r, &sx) in row.iter_mut().zip(table) {
                    *r = hi[sx as usize];
                }
            }
        }
    }

    /// y[o] = b[o] + Σ_j W[o, j] Pt[j] from the patches of the input.
    pub fn forward_patches(&self, params: &[f64], patches: &[f64], y: &mut [f64]) {
        let v = y.len() / self.c_out;
        let j_max = self.c_in * self.kernel;
        let (w, b) = params.split_at(self.c_out * j_max);
        for o in 0..self.c_out {
            let yo = &mut y[o * v..(o + 1) * v];
            yo.fill(b[o]);
            for j in 0..j_max {
                let wj = w[o * j_max + j];
                for (yx, px) in yo.iter_mut().zip(&patches[j * v..(j + 1) * v]) {
                    *yx += wj * px;
                }
            }
        }
    }

    /// Backward from the patches: ∂L/∂W[o, j] += g[o]·Pt[j], ∂L/∂b[o] += Σ_x g[o, x], and
    /// (if `dh` is given) ∂L/∂h by scattering ∂L/∂Pt[j] = Σ_o W[o, j] g[o] through the tables.
    pub fn backward_patches(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        patches: &[f64],
        g: &[f64],
        dparams: &mut [f64],
        dh: Option<&mut [f64]>,
    ) {
        let v = shifts.volume;
        let j_max = self.c_in * self.kernel;
        let (dw, db) = dparams.split_at_mut(self.c_out * j_max);
        for o in 0..self.c_out {
            let go = &g[o * v..(o + 1) * v];
            db[o] += go.iter().sum::<f64>();
            for j in 0..j_max {
                dw[o * j_max + j] += dot(go, &patches[j * v..(j + 1) * v]);
            }
        }
        if let Some(dh) = dh {
            let w = &params[..self.c_out * j_max];
            dh.fill(0.0);
            let mut row = vec![0.0; v];
            for j in 0..j_max {
                row.fill(0.0);
                for o in 0..self.c_out {
                    let wj = w[o * j_max + j];
                    for (r, gx) in row.iter_mut().zip(&g[o * v..(o + 1) * v]) {
                        *r += wj * gx;
                    }
                }
                let (i, k) = (j / self.kernel, j % self.kernel);
                let dhi = &mut dh[i * v..(i + 1) * v];
                for (r, &sx) in row.iter().zip(&shifts.shift[k]) {
                    dhi[sx as usize] += r;
                }
            }
        }
    }

    /// One configuration: `h` is `[c_in, V]`, `y` is `[c_out, V]`.
    pub fn forward(&self, shifts: &KernelShifts, params: &[f64], h: &[f64], y: &mut [f64]) {
        let mut p = Vec::new();
        self.patches(shifts, h, &mut p);
        self.forward_patches(params, &p, y);
    }

    /// One configuration: given g = ∂L/∂y `[c_out, V]` and the input `h`, adds ∂L/∂params to
    /// `dparams` and writes ∂L/∂h `[c_in, V]` into `dh` (if given).
    pub fn backward(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        h: &[f64],
        g: &[f64],
        dparams: &mut [f64],
        dh: Option<&mut [f64]>,
    ) {
        let mut p = Vec::new();
        self.patches(shifts, h, &mut p);
        self.backward_patches(shifts, params, &p, g, dparams, dh);
    }
}
