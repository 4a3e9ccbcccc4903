//! The prioritised replay buffer of FAB: AIS samples φ_i stored with their log weights log w_i
//! (for g = p²/q_θ at the θ when they were stored or last corrected) and log q_old,i = log q_θ(φ_i)
//! at that θ. Draws pick sample i with probability w_i / Σ_j w_j (with replacement), so a
//! buffer draw is a draw from g as the weights estimate it. When θ changes to θ′, g changes by
//! g′/g = q_θ/q_θ′, so a sample's weight is corrected by log w_i += log q_old,i − log q_θ′(φ_i)
//! (for the samples just drawn, whose log q_θ′ training computes anyway). Once full, the buffer
//! overwrites its oldest samples.

use lft_lattice::{Pcg64, uniform};

/// A prioritised replay buffer of configurations `[V]` (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayBuffer {
    volume: usize,
    capacity: usize,
    phi: Vec<f64>,
    log_w: Vec<f64>,
    log_q: Vec<f64>,
    /// Where the next sample goes.
    next: usize,
}

impl ReplayBuffer {
    /// An empty buffer of up to `capacity` configurations of `volume` values.
    pub fn new(volume: usize, capacity: usize) -> Self {
        assert!(capacity > 0, "a replay buffer holds at least one sample");
        Self {
            volume,
            capacity,
            phi: Vec::with_capacity(capacity * volume),
            log_w: Vec::with_capacity(capacity),
            log_q: Vec::with_capacity(capacity),
            next: 0,
        }
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.log_w.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log_w.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds configurations `phi` `[n, V]` with their log weights and log q_θ, overwriting the
    /// oldest once full. Samples of non-finite weight or log q are left out (they could never
    /// be drawn, or never be corrected).
    pub fn add(&mut self, phi: &[f64], log_w: &[f64], log_q: &[f64]) {
        let v = self.volume;
        for ((x, &w), &q) in phi.chunks_exact(v).zip(log_w).zip(log_q) {
            if !(w.is_finite() && q.is_finite()) {
                continue;
            }
            if self.len() < self.capacity {
                self.phi.extend_from_slice(x);
                self.log_w.push(w);
                self.log_q.push(q);
            } else {
                let i = self.next;
                self.phi[i * v..(i + 1) * v].copy_from_slice(x);
                self.log_w[i] = w;
                self.log_q[i] = q;
            }
            self.next = (self.next + 1) % self.capacity;
        }
    }

    /// `n` indices drawn with replacement, index i with probability w_i / Σ_j w_j.
    pub fn sample(&self, n: usize, rng: &mut Pcg64) -> Vec<usize> {
        assert!(!self.is_empty(), "sampling from an empty replay buffer");
        let max = self.log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut cumulative = Vec::with_capacity(self.len());
        let mut total = 0.0;
        for lw in &self.log_w {
            total += (lw - max).exp();
            cumulative.push(total);
        }
        (0..n)
            .map(|_| {
                let u = uniform(rng) * total;
                cumulative.partition_point(|&c| c <= u).min(self.len() - 1)
            })
            .collect()
    }

    /// The configuration at index `i`.
    pub fn phi(&self, i: usize) -> &[f64] {
        &self.phi[i * self.volume..(i + 1) * self.volume]
    }

    /// The stored log weight of sample i.
    pub fn log_w(&self, i: usize) -> f64 {
        self.log_w[i]
    }

    /// log q_θ(φ_i) at the θ of sample i's weight.
    pub fn log_q(&self, i: usize) -> f64 {
        self.log_q[i]
    }

    /// The configurations of `indices`, `[n, V]`.
    pub fn gather(&self, indices: &[usize]) -> Vec<f64> {
        let mut out = Vec::with_capacity(indices.len() * self.volume);
        for &i in indices {
            out.extend_from_slice(self.phi(i));
        }
        out
    }

    /// Corrects the weights of `indices` to the flow whose log q at them is `log_q_new`:
    /// log w_i += log q_old,i − log q_new,i, then log q_old,i = log q_new,i. A repeated index
    /// is corrected once (the second correction is zero); a non-finite log q_new is skipped.
    pub fn adjust(&mut self, indices: &[usize], log_q_new: &[f64]) {
        for (&i, &q) in indices.iter().zip(log_q_new) {
            if !q.is_finite() {
                continue;
            }
            self.log_w[i] += self.log_q[i] - q;
            self.log_q[i] = q;
        }
    }
}
