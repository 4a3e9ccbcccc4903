//! Reweighting along one coupling that enters the action linearly, S_c(x) = S_0(x) + c A(x)
//! (m², λ or h of φ⁴, κ or λ̃ of its hopping form, β of U(1)): ensembles at couplings c_k,
//! combined by [`Mbar`] (one ensemble: single-histogram reweighting), give ⟨O⟩_c and
//! log Z(c) − log Z(c_0) at any c between them.
//!
//! Errors come from a block jackknife: every ensemble's samples (its chains one after the
//! other) are cut into B contiguous blocks; jackknife sample b leaves block b of every
//! ensemble out and solves MBAR again (warm-started). Blocks much longer than τ_int make the
//! errors cover autocorrelation.

use crate::mbar::Mbar;
use crate::{StatsError, kish_ess, log_sum_exp};
use rayon::prelude::*;

/// Ensembles of one linear family: the coupling of each and the conjugate A(x) of each of its
/// samples.
#[derive(Debug, Clone)]
pub struct LinearFamily {
    pub couplings: Vec<f64>,
    /// `conjugate[k][n]` = A(x_n) of sample n of ensemble k.
    pub conjugate: Vec<Vec<f64>>,
}

/// A reweighted estimate with its jackknife error and the overlap it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reweighted {
    pub value: f64,
    pub error: f64,
    /// Kish effective sample size of the weights at the target, (Σ w)² / Σ w².
    pub ess: f64,
}

/// MBAR over a linear family, with its jackknife samples.
#[derive(Debug, Clone)]
pub struct Reweighter {
    family: LinearFamily,
    /// A(x_n) of every pooled sample.
    pooled: Vec<f64>,
    full: Mbar,
    /// Per jackknife sample: the solution, and the pooled indices it keeps.
    jackknife: Vec<(Mbar, Vec<usize>)>,
}

impl Reweighter {
    /// Solves MBAR on every ensemble of `family` and on its `blocks` jackknife samples
    /// (2 ≤ blocks ≤ the shortest ensemble's length).
    pub fn new(family: LinearFamily, blocks: usize) -> Result<Self, StatsError> {
        let k = family.couplings.len();
        if k == 0 || family.conjugate.len() != k {
            return Err(StatsError::Shape);
        }
        let shortest = family.conjugate.iter().map(Vec::len).min().unwrap_or(0);
        if blocks < 2 || shortest < blocks {
            return Err(StatsError::TooFewSamples {
                needed: blocks.max(2),
                got: shortest,
            });
        }
        let pooled: Vec<f64> = family.conjugate.concat();
        let counts: Vec<usize> = family.conjugate.iter().map(Vec::len).collect();
        let full = Mbar::solve(&counts, &family.couplings, pooled.clone(), None)?;
        let offsets: Vec<usize> = counts
            .iter()
            .scan(0, |s, &c| {
                let o = *s;
                *s += c;
                Some(o)
            })
            .collect();
        let jackknife = (0..blocks)
            .into_par_iter()
            .map(|b| {
                let mut keep = Vec::with_capacity(pooled.len());
                let mut kept_counts = Vec::with_capacity(k);
                for (&n, &o) in counts.iter().zip(&offsets) {
                    let (lo, hi) = (b * n / blocks, (b + 1) * n / blocks);
                    keep.extend((o..o + lo).chain(o + hi..o + n));
                    kept_counts.push(n - (hi - lo));
                }
                let subset: Vec<f64> = keep.iter().map(|&n| pooled[n]).collect();
                let m = Mbar::solve(
                    &kept_counts,
                    &family.couplings,
                    subset,
                    Some(full.free_energies()),
                )?;
                Ok((m, keep))
            })
            .collect::<Result<Vec<_>, StatsError>>()?;
        Ok(Reweighter {
            family,
            pooled,
            full,
            jackknife,
        })
    }

    /// The couplings of the ensembles.
    pub fn couplings(&self) -> &[f64] {
        &self.family.couplings
    }

    /// Total samples N = Σ N_k.
    pub fn samples(&self) -> usize {
        self.family.conjugate.iter().map(Vec::len).sum()
    }

    /// Jackknife samples B.
    pub fn blocks(&self) -> usize {
        self.jackknife.len()
    }

    /// The samples of every ensemble one after the other (ensemble 0's first), as the
    /// estimates take them: `per_ensemble[k][n]` is a value of sample n of ensemble k.
    pub fn pool(&self, per_ensemble: &[Vec<f64>]) -> Result<Vec<f64>, StatsError> {
        let fits = per_ensemble.len() == self.family.conjugate.len()
            && per_ensemble
                .iter()
                .zip(&self.family.conjugate)
                .all(|(s, a)| s.len() == a.len());
        if !fits {
            return Err(StatsError::Shape);
        }
        Ok(per_ensemble.concat())
    }

    /// Log weights at coupling c of the pooled samples that jackknife sample `sample` keeps
    /// (None: all), and those samples' indices.
    fn log_weights_in(&self, sample: Option<usize>, c: f64) -> (Vec<f64>, Option<&[usize]>) {
        match sample {
            None => (self.full.log_weights(c), None),
            Some(b) => {
                let (m, keep) = &self.jackknife[b];
                (m.log_weights(c), Some(keep))
            }
        }
    }

    /// log Z(c) − log Z(c_0) on jackknife sample `sample` (None: all samples).
    pub fn log_z_difference_in(&self, sample: Option<usize>, c: f64) -> f64 {
        log_sum_exp(&self.log_weights_in(sample, c).0)
    }

    /// log Z(c) − log Z(c_0), with its jackknife error and the ESS at c.
    pub fn log_z_difference(&self, c: f64) -> Reweighted {
        let (lw, _) = self.log_weights_in(None, c);
        let samples: Vec<f64> = (0..self.blocks())
            .map(|b| self.log_z_difference_in(Some(b), c))
            .collect();
        Reweighted {
            value: log_sum_exp(&lw),
            error: jackknife_error(&samples),
            ess: kish_ess(&lw) * lw.len() as f64,
        }
    }

    /// ⟨a_1⟩_c, …, ⟨a_m⟩_c on jackknife sample `sample` (None: all samples), where
    /// `pooled[j]` holds a_j of every pooled sample ([`Reweighter::pool`]); and the ESS of the
    /// weights.
    pub fn means_in(&self, sample: Option<usize>, c: f64, pooled: &[&[f64]]) -> (Vec<f64>, f64) {
        let (lw, keep) = self.log_weights_in(sample, c);
        let max = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = lw.iter().map(|x| (x - max).exp()).collect();
        let total: f64 = w.iter().sum();
        let means = pooled
            .iter()
            .map(|a| match keep {
                Some(keep) => keep.iter().zip(&w).map(|(&n, w)| w * a[n]).sum::<f64>(),
                None => a.iter().zip(&w).map(|(a, w)| w * a).sum::<f64>(),
            } / total)
            .collect();
        (means, kish_ess(&lw) * lw.len() as f64)
    }

    /// f(c, ⟨a_1⟩_c, …, ⟨a_m⟩_c) at coupling c with its jackknife error, `pooled` as for
    /// [`Reweighter::means_in`].
    pub fn estimate(
        &self,
        c: f64,
        pooled: &[&[f64]],
        f: impl Fn(f64, &[f64]) -> f64,
    ) -> Result<Reweighted, StatsError> {
        if pooled.iter().any(|a| a.len() != self.pooled.len()) {
            return Err(StatsError::Shape);
        }
        let (means, ess) = self.means_in(None, c, pooled);
        let value = f(c, &means);
        if !value.is_finite() {
            return Err(StatsError::NotFinite);
        }
        let samples: Vec<f64> = (0..self.blocks())
            .map(|b| f(c, &self.means_in(Some(b), c, pooled).0))
            .collect();
        Ok(Reweighted {
            value,
            error: jackknife_error(&samples),
            ess,
        })
    }
}

/// √((B−1)/B Σ_b (θ_b − θ̄)²) of jackknife samples θ_b.
pub fn jackknife_error(samples: &[f64]) -> f64 {
    let b = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / b;
    (samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() * (b - 1.0) / b).sqrt()
}
