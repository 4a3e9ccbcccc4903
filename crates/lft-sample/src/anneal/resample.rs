//! Resampling of a weighted particle system: N ancestor indices a_1 … a_N with
//! E[#{j : a_j = i}] = N W_i for normalised weights W (Douc, Cappé, Moulines 2005).
//!
//! All three schemes invert the cumulative weights at N points u_1 < … < u_N in [0, 1):
//! - multinomial: the sorted order statistics of N independent uniforms (drawn directly in
//!   increasing order from normalised exponential spacings);
//! - stratified: u_j = (j + U_j)/N with independent U_j;
//! - systematic: u_j = (j + U)/N with one U (least variance, not always);
//! - ordered: systematic, with the particles first sorted by a scalar key (the pass uses the
//!   magnetisation Σ_x φ_x). Then every set of particles contiguous in the key, such as those
//!   with M > 0, gets N times its weight in copies up to ±1: resampling adds almost no noise to
//!   the balance between regions of the key, which plain resampling lets drift (Gerber, Chopin,
//!   Whiteley 2019 order particles for the same reason). Still E[copies of i] = N W_i.

use lft_lattice::{Pcg64, uniform};

/// How particles are resampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resampling {
    Multinomial,
    Stratified,
    Systematic,
    /// Systematic in the order of a key ([`Resampling::ancestors_by_key`]).
    Ordered,
}

impl Resampling {
    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Resampling::Multinomial => "multinomial",
            Resampling::Stratified => "stratified",
            Resampling::Systematic => "systematic",
            Resampling::Ordered => "ordered",
        }
    }

    /// Whether the scheme needs a key per particle ([`Resampling::ancestors_by_key`]).
    pub fn needs_keys(self) -> bool {
        self == Resampling::Ordered
    }

    /// [`Resampling::ancestors`], with the particles taken in increasing order of `keys`
    /// (ties by index) where the scheme is `Ordered`; the ancestors then come in that order.
    pub fn ancestors_by_key(
        self,
        weights: &[f64],
        keys: &[f64],
        rng: &mut Pcg64,
        ancestors: &mut Vec<usize>,
    ) {
        if !self.needs_keys() {
            return self.ancestors(weights, rng, ancestors);
        }
        assert_eq!(keys.len(), weights.len(), "one key per particle");
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]).then(a.cmp(&b)));
        let sorted: Vec<f64> = order.iter().map(|&i| weights[i]).collect();
        Resampling::Systematic.ancestors(&sorted, rng, ancestors);
        ancestors.iter_mut().for_each(|a| *a = order[*a]);
    }

    /// Fills `ancestors` with N = `weights.len()` indices drawn from `rng` only, in
    /// increasing order. `weights` are normalised (Σ W = 1 up to rounding). `Ordered` without
    /// keys is systematic in index order.
    pub fn ancestors(self, weights: &[f64], rng: &mut Pcg64, ancestors: &mut Vec<usize>) {
        let n = weights.len();
        ancestors.clear();
        if n == 0 {
            return;
        }
        let points: Vec<f64> = match self {
            Resampling::Multinomial => {
                // Sorted uniforms: partial sums of n + 1 exponentials, normalised by their total.
                let e: Vec<f64> = (0..=n).map(|_| -(1.0 - uniform(rng)).ln()).collect();
                let total: f64 = e.iter().sum();
                let mut acc = 0.0;
                e[..n]
                    .iter()
                    .map(|x| {
                        acc += x;
                        acc / total
                    })
                    .collect()
            }
            Resampling::Stratified => (0..n)
                .map(|j| (j as f64 + uniform(rng)) / n as f64)
                .collect(),
            Resampling::Systematic | Resampling::Ordered => {
                let u = uniform(rng);
                (0..n).map(|j| (j as f64 + u) / n as f64).collect()
            }
        };
        let total: f64 = weights.iter().sum();
        // Points past the last cumulative sum (rounding) go to the last particle of weight > 0.
        let last = weights.iter().rposition(|&w| w > 0.0).unwrap_or(n - 1);
        let mut i = 0;
        let mut cumulative = weights[0] / total;
        for u in points {
            while u >= cumulative && i < last {
                i += 1;
                cumulative += weights[i] / total;
            }
            ancestors.push(i);
        }
    }
}
