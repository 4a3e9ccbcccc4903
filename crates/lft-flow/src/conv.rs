//! Periodic ("circular") convolutions on a lattice of dimension 1–4.
//!
//! y[o, x] = b[o] + Σ_i Σ_δ W[o, i, δ] h[i, x + δ], with δ over the k^d offsets of an odd kernel
//! (each component in −r … r, r = (k−1)/2) and x + δ taken periodically. Backward, with
//! g = ∂L/∂y:
//!   ∂L/∂b[o] = Σ_x g[o, x],  ∂L/∂W[o, i, δ] = Σ_x g[o, x] h[i, x + δ],
//!   ∂L/∂h[i, z] = Σ_o Σ_δ W[o, i, δ] g[o, z − δ].

use lft_lattice::Lattice;

/// Kernel offsets of one lattice, as site-shift tables: `shift[δ][x]` is the site x + δ.
#[derive(Debug, Clone)]
pub struct KernelShifts {
    volume: usize,
    /// `[K][V]`.
    shift: Vec<Vec<u32>>,
    /// `mirror[δ]` is the index of −δ.
    mirror: Vec<usize>,
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
        // Offsets are enumerated lexicographically from (−r, …) to (r, …): −δ is the mirror index.
        let mirror = (0..count).map(|i| count - 1 - i).collect();
        Self {
            volume: lattice.volume(),
            shift,
            mirror,
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

    /// One configuration: `h` is `[c_in, V]`, `y` is `[c_out, V]`.
    pub fn forward(&self, shifts: &KernelShifts, params: &[f64], h: &[f64], y: &mut [f64]) {
        let v = shifts.volume;
        let (w, b) = params.split_at(self.c_out * self.c_in * self.kernel);
        for o in 0..self.c_out {
            let yo = &mut y[o * v..(o + 1) * v];
            yo.fill(b[o]);
            for i in 0..self.c_in {
                let hi = &h[i * v..(i + 1) * v];
                for (k, table) in shifts.shift.iter().enumerate() {
                    let wk = w[(o * self.c_in + i) * self.kernel + k];
                    for (yx, &sx) in yo.iter_mut().zip(table) {
                        *yx += wk * hi[sx as usize];
                    }
                }
            }
        }
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
        let v = shifts.volume;
        let nw = self.c_out * self.c_in * self.kernel;
        let (dw, db) = dparams.split_at_mut(nw);
        for o in 0..self.c_out {
            let go = &g[o * v..(o + 1) * v];
            db[o] += go.iter().sum::<f64>();
            for i in 0..self.c_in {
                let hi = &h[i * v..(i + 1) * v];
                for (k, table) in shifts.shift.iter().enumerate() {
                    dw[(o * self.c_in + i) * self.kernel + k] += go
                        .iter()
                        .zip(table)
                        .map(|(gx, &sx)| gx * hi[sx as usize])
                        .sum::<f64>();
                }
            }
        }
        if let Some(dh) = dh {
            let w = &params[..nw];
            dh.fill(0.0);
            for i in 0..self.c_in {
                let dhi = &mut dh[i * v..(i + 1) * v];
                for o in 0..self.c_out {
                    let go = &g[o * v..(o + 1) * v];
                    for k in 0..self.kernel {
                        let wk = w[(o * self.c_in + i) * self.kernel + k];
                        let back = &shifts.shift[shifts.mirror[k]];
                        for (dz, &sz) in dhi.iter_mut().zip(back) {
                            *dz += wk * go[sz as usize];
                        }
                    }
                }
            }
        }
    }
}
