//! Multi-ensemble reweighting: MBAR (Shirts and Chodera 2008), the modern form of the
//! multi-histogram method of Ferrenberg and Swendsen (1989).
//!
//! K ensembles, ensemble k drawn from p_k(x) ∝ e^{−u_k(x)} with N_k samples; all N = Σ N_k
//! samples x_n pooled. The dimensionless free energies f_k = −log Z_k (up to one constant,
//! fixed by f_0 = 0) solve
//!
//!   f_i = −log Σ_n e^{−u_i(x_n)} / Σ_k N_k e^{f_k − u_k(x_n)},
//!
//! and any target u (a coupling between the simulated ones) then has the weights
//! w_n ∝ e^{−u(x_n)} / Σ_k N_k e^{f_k − u_k(x_n)} and free energy f = −log Σ_n w_n.
//! With one ensemble this is single-histogram reweighting.
//!
//! Here the ensembles differ in one coupling that enters the action linearly,
//! u_k(x) = c_k A(x) (the part of the action without c cancels from every formula), so the
//! potentials are never stored: A(x_n) and the c_k suffice.
//!
//! The equations are the stationarity conditions of the convex function
//! F(f) = Σ_n log Σ_k N_k e^{f_k − u_k(x_n)} − Σ_k N_k f_k, minimised here by Newton's method
//! with a backtracking line search (log-sum-exp throughout, so no exponential overflows).

use crate::StatsError;
use crate::log_sum_exp;
use rayon::prelude::*;

/// Newton iterations before giving up.
const MAX_NEWTON: usize = 200;
/// Converged when every |∂F/∂f_k| / N_k is below this.
const GRADIENT_TOLERANCE: f64 = 1e-10;

/// Samples per parallel chunk of the sums over samples.
const CHUNK: usize = 4096;

/// Solved MBAR equations of K ensembles of a linear family.
#[derive(Debug, Clone)]
pub struct Mbar {
    counts: Vec<f64>,
    /// c_k.
    couplings: Vec<f64>,
    /// A(x_n) of the pooled samples.
    conjugate: Vec<f64>,
    f: Vec<f64>,
    /// log Σ_k N_k e^{f_k − c_k A(x_n)} per sample.
    log_den: Vec<f64>,
}

impl Mbar {
    /// Solves the MBAR equations for ensembles of `counts[k]` samples at couplings
    /// `couplings[k]`, `conjugate[n]` = A(x_n) of the pooled samples (ensemble 0's first).
    /// `start` (length K) warm-starts Newton's method; without it the start is the chain of
    /// exponential averages between neighbouring ensembles.
    pub fn solve(
        counts: &[usize],
        couplings: &[f64],
        conjugate: Vec<f64>,
        start: Option<&[f64]>,
    ) -> Result<Self, StatsError> {
        let k = counts.len();
        let samples: usize = counts.iter().sum();
        if k == 0 || samples == 0 || counts.contains(&0) {
            return Err(StatsError::NoData);
        }
        if conjugate.len() != samples || couplings.len() != k {
            return Err(StatsError::Shape);
        }
        if conjugate.iter().chain(couplings).any(|x| !x.is_finite()) {
            return Err(StatsError::NotFinite);
        }
        let mut mbar = Mbar {
            counts: counts.iter().map(|&c| c as f64).collect(),
            couplings: couplings.to_vec(),
            conjugate,
            f: vec![0.0; k],
            log_den: vec![0.0; samples],
        };
        match start {
            Some(f) if f.len() == k => mbar.f = f.to_vec(),
            Some(_) => return Err(StatsError::Shape),
            None => mbar.f = mbar.neighbour_start(counts),
        }
        mbar.shift();
        mbar.newton()?;
        Ok(mbar)
    }

    /// f_{k+1} − f_k ≈ −log ⟨e^{−(c_{k+1} − c_k) A}⟩_k from ensemble k's own samples, chained
    /// from f_0 = 0 (exact for perfect overlap, and close enough for Newton otherwise).
    fn neighbour_start(&self, counts: &[usize]) -> Vec<f64> {
        let mut f = vec![0.0; counts.len()];
        let mut offset = 0;
        for k in 0..counts.len() - 1 {
            let own = &self.conjugate[offset..offset + counts[k]];
            let dc = self.couplings[k + 1] - self.couplings[k];
            let shifted: Vec<f64> = own.iter().map(|a| -dc * a).collect();
            f[k + 1] = f[k] - crate::log_mean_exp(&shifted);
            offset += counts[k];
        }
        f
    }

    /// Number of ensembles K.
    pub fn ensembles(&self) -> usize {
        self.counts.len()
    }

    /// f_k − f_0 = −log(Z_k / Z_0).
    pub fn free_energies(&self) -> &[f64] {
        &self.f
    }

    /// log Σ_k N_k e^{f_k − u_k(x_n)} for every pooled sample: the target-independent part of
    /// the weights.
    pub fn log_denominators(&self) -> &[f64] {
        &self.log_den
    }

    /// Unnormalised log weights of the pooled samples at coupling c:
    /// −c A(x_n) − log Σ_k N_k e^{f_k − c_k A(x_n)}. Their log-sum-exp is −f(c) (relative to
    /// ensemble 0).
    pub fn log_weights(&self, c: f64) -> Vec<f64> {
        self.conjugate
            .iter()
            .zip(&self.log_den)
            .map(|(a, d)| -c * a - d)
            .collect()
    }

    /// Sets f_0 = 0.
    fn shift(&mut self) {
        let f0 = self.f[0];
        for f in &mut self.f {
            *f -= f0;
        }
    }

    /// F(f), and log_den for that f.
    fn objective(&self, f: &[f64], log_den: &mut [f64]) -> f64 {
        let shifts: Vec<f64> = self.counts.iter().zip(f).map(|(c, f)| c.ln() + f).collect();
        let total: f64 = log_den
            .par_chunks_mut(CHUNK)
            .zip(self.conjugate.par_chunks(CHUNK))
            .map(|(den, a)| {
                let mut terms = vec![0.0; shifts.len()];
                let mut sum = 0.0;
                for (d, &a) in den.iter_mut().zip(a) {
                    for ((t, s), c) in terms.iter_mut().zip(&shifts).zip(&self.couplings) {
                        *t = s - c * a;
                    }
                    *d = log_sum_exp(&terms);
                    sum += *d;
                }
                sum
            })
            .sum();
        total - self.counts.iter().zip(f).map(|(c, f)| c * f).sum::<f64>()
    }

    /// The gradient and Hessian of F at the current f.
    fn derivatives(&self) -> (Vec<f64>, Vec<f64>) {
        let k = self.counts.len();
        let shifts: Vec<f64> = self
            .counts
            .iter()
            .zip(&self.f)
            .map(|(c, f)| c.ln() + f)
            .collect();
        let (mut grad, hess) = self
            .log_den
            .par_chunks(CHUNK)
            .zip(self.conjugate.par_chunks(CHUNK))
            .map(|(den, a)| {
                let mut grad = vec![0.0; k];
                let mut hess = vec![0.0; k * k];
                let mut p = vec![0.0; k];
                for (&d, &a) in den.iter().zip(a) {
                    // p_j = N_j e^{f_j − c_j A − log_den}: the probability that x came from j.
                    for ((p, s), c) in p.iter_mut().zip(&shifts).zip(&self.couplings) {
                        *p = (s - c * a - d).exp();
                    }
                    for i in 0..k {
                        grad[i] += p[i];
                        for j in 0..k {
                            hess[i * k + j] -= p[i] * p[j];
                        }
                        hess[i * k + i] += p[i];
                    }
                }
                (grad, hess)
            })
            .reduce(
                || (vec![0.0; k], vec![0.0; k * k]),
                |(mut g1, mut h1), (g2, h2)| {
                    g1.iter_mut().zip(&g2).for_each(|(a, b)| *a += b);
                    h1.iter_mut().zip(&h2).for_each(|(a, b)| *a += b);
                    (g1, h1)
                },
            );
        for (g, c) in grad.iter_mut().zip(&self.counts) {
            *g -= c;
        }
        (grad, hess)
    }

    /// Newton's method on F over f_1 … f_{K−1} (f_0 = 0), halving steps that do not lower F.
    fn newton(&mut self) -> Result<(), StatsError> {
        let k = self.counts.len();
        let mut value = {
            let mut d = std::mem::take(&mut self.log_den);
            let v = self.objective(&self.f, &mut d);
            self.log_den = d;
            v
        };
        if k == 1 {
            return Ok(());
        }
        let mut trial_den = vec![0.0; self.log_den.len()];
        for _ in 0..MAX_NEWTON {
            let (grad, hess) = self.derivatives();
            if grad
                .iter()
                .zip(&self.counts)
                .skip(1)
                .all(|(g, c)| (g / c).abs() < GRADIENT_TOLERANCE)
            {
                return Ok(());
            }
            let step = solve_reduced(&hess, &grad, k).ok_or(StatsError::NotFinite)?;
            let mut t = 1.0;
            loop {
                let trial: Vec<f64> = self.f.iter().zip(&step).map(|(f, s)| f - t * s).collect();
                let v = self.objective(&trial, &mut trial_den);
                if v.is_finite() && v <= value + 1e-12 * value.abs().max(1.0) {
                    self.f = trial;
                    std::mem::swap(&mut self.log_den, &mut trial_den);
                    value = v;
                    break;
                }
                t *= 0.5;
                if t < 1e-12 {
                    // No descent left at floating-point precision: the gradient is as small as
                    // it gets.
                    return Ok(());
                }
            }
        }
        Err(StatsError::NotConverged(MAX_NEWTON))
    }
}

/// Solves H[1.., 1..] s = g[1..] (Gaussian elimination with partial pivoting); s_0 = 0.
fn solve_reduced(hess: &[f64], grad: &[f64], k: usize) -> Option<Vec<f64>> {
    let m = k - 1;
    let mut a: Vec<f64> = (1..k)
        .flat_map(|i| (1..k).map(move |j| (i, j)))
        .map(|(i, j)| hess[i * k + j])
        .collect();
    let mut b: Vec<f64> = grad[1..].to_vec();
    for col in 0..m {
        let pivot =
            (col..m).max_by(|&x, &y| a[x * m + col].abs().total_cmp(&a[y * m + col].abs()))?;
        if a[pivot * m + col].abs() < 1e-300 {
            return None;
        }
        for j in 0..m {
            a.swap(col * m + j, pivot * m + j);
        }
        b.swap(col, pivot);
        for row in col + 1..m {
            let factor = a[row * m + col] / a[col * m + col];
            for j in col..m {
                a[row * m + j] -= factor * a[col * m + j];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut s = vec![0.0; m];
    for row in (0..m).rev() {
        let tail: f64 = (row + 1..m).map(|j| a[row * m + j] * s[j]).sum();
        s[row] = (b[row] - tail) / a[row * m + row];
    }
    let mut out = vec![0.0];
    out.extend(s);
    out.iter().all(|x| x.is_finite()).then_some(out)
}
