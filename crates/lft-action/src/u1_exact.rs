//! Exact results of 2D U(1) lattice gauge theory with the Wilson action on a finite periodic
//! lattice of V plaquettes, by the character expansion (docs/PHYSICS.md): the plaquette angles
//! are independent but for Π_P U_P = 1, the two holonomies integrate out, and with
//! I_n = I_n(β) (modified Bessel functions; computed exponentially scaled, so that β up to
//! 20 and more and V up to 64 × 64 stay in range)
//!
//!   Z = Σ_{n∈ℤ} I_n^V                                            (normalised Haar measure)
//!   ⟨cos θ_P⟩ = Σ_n I_n^{V−1} (I_{n−1} + I_{n+1})/2 / Z
//!   ⟨W(A)⟩ = Σ_n I_n^{V−A} I_{n+1}^A / Z                        (contractible loop of area A)
//!   ⟨Q²⟩ = Σ_n [V I_n^{V−1} B_n − V(V−1) I_n^{V−2} A_n²] / Z
//!   P(Q) = (1/2π) ∫_{−π}^{π} dθ e^{−iθQ} Z(θ) / Z,   Z(θ) = Σ_n J(n + θ/2π)^V,
//!
//! with A_n = (1/2π)∫dφ (φ/2π) sin(nφ) e^{β cos φ}, B_n = (1/2π)∫dφ (φ/2π)² cos(nφ) e^{β cos φ}
//! and J(t) = (1/2π)∫dφ e^{β cos φ + itφ}. The Fourier series φ/2π = Σ_k (−1)^{k+1} sin(kφ)/(πk)
//! and (φ/2π)² = 1/12 + Σ_k (−1)^k cos(kφ)/(π²k²) on (−π, π), and e^{β cos φ} = Σ_m I_m e^{imφ},
//! give them as rapidly converging sums of Bessel functions:
//!
//!   A_n = Σ_{k≥1} (−1)^{k+1} [I_{k−n} − I_{k+n}] / (2πk)
//!   B_n = I_n/12 + Σ_{k≥1} (−1)^k [I_{k−n} + I_{k+n}] / (2π²k²)
//!   J(t) = Σ_m I_m sin(π(m + t)) / (π(m + t)).
//!
//! Z(θ) is smooth and 2π-periodic, so the trapezoid rule gives P(Q) to rounding.

use crate::ActionError;
use crate::bessel::scaled_bessel_i;
use std::f64::consts::PI;

/// Terms of a sum over n below this fraction of the largest are left out.
const NEGLIGIBLE: f64 = 1e-18;

/// Points of the trapezoid rule for P(Q).
const THETA_POINTS: usize = 1024;

/// The exact expectation values of the Wilson action at coupling β on V plaquettes.
#[derive(Debug, Clone)]
pub struct U1Exact {
    beta: f64,
    volume: usize,
    /// Î_n = I_n(β) e^{−β}, n = 0 … N.
    scaled: Vec<f64>,
}

impl U1Exact {
    /// β > 0 (finite) on a lattice of `volume` ≥ 2 plaquettes.
    pub fn new(beta: f64, volume: usize) -> Result<Self, ActionError> {
        if !(beta > 0.0 && beta.is_finite()) {
            return Err(ActionError {
                name: "beta",
                value: beta,
                reason: "must be positive and finite",
            });
        }
        if volume < 2 {
            return Err(ActionError {
                name: "volume",
                value: volume as f64,
                reason: "needs at least two plaquettes",
            });
        }
        let n_max = 200 + (6.0 * beta).ceil() as usize;
        Ok(Self {
            beta,
            volume,
            scaled: scaled_bessel_i(beta, n_max),
        })
    }

    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// V, the number of plaquettes.
    pub fn volume(&self) -> usize {
        self.volume
    }

    /// Î_|n|, 0 beyond the table (far below every term that matters).
    fn i(&self, n: i64) -> f64 {
        self.scaled
            .get(n.unsigned_abs() as usize)
            .copied()
            .unwrap_or(0.0)
    }

    /// r_n = I_n / I_0.
    fn ratio(&self, n: i64) -> f64 {
        self.i(n) / self.i(0)
    }

    /// Σ_{n∈ℤ} f(n), summed outwards from 0 until the terms are negligible.
    fn sum_over_n(&self, f: impl Fn(i64) -> f64) -> f64 {
        let mut total = f(0);
        let mut largest = total.abs();
        let limit = self.scaled.len() as i64 - 2;
        for n in 1..limit {
            let term = f(n) + f(-n);
            total += term;
            largest = largest.max(term.abs());
            if term.abs() <= NEGLIGIBLE * largest && self.ratio(n) < 0.5 {
                break;
            }
        }
        total
    }

    /// Σ_n (I_n/I_0)^V, the partition function over I_0^V.
    fn z_ratio(&self) -> f64 {
        let v = self.volume as i32;
        self.sum_over_n(|n| self.ratio(n).powi(v))
    }

    /// log Z = log Σ_n I_n(β)^V: the partition function of the normalised Haar measure.
    pub fn log_z(&self) -> f64 {
        let v = self.volume as f64;
        v * self.beta + v * self.i(0).ln() + self.z_ratio().ln()
    }

    /// ⟨cos θ_P⟩ = Σ_n I_n^{V−1} (I_{n−1} + I_{n+1})/2 / Z.
    pub fn plaquette(&self) -> f64 {
        let v = self.volume as i32;
        let num = self.sum_over_n(|n| {
            self.ratio(n).powi(v - 1) * 0.5 * (self.ratio(n - 1) + self.ratio(n + 1))
        });
        num / self.z_ratio()
    }

    /// ⟨W(A)⟩ = Σ_n I_n^{V−A} I_{n+1}^A / Z: a contractible Wilson loop enclosing A plaquettes
    /// (an R × T rectangle has A = RT).
    pub fn wilson_loop(&self, area: usize) -> f64 {
        assert!(area <= self.volume, "a loop encloses at most V plaquettes");
        let (v, a) = (self.volume as i32, area as i32);
        let num = self.sum_over_n(|n| self.ratio(n).powi(v - a) * self.ratio(n + 1).powi(a));
        num / self.z_ratio()
    }

    /// A_n e^{−β} = Σ_{k≥1} (−1)^{k+1} [Î_{k−n} − Î_{k+n}] / (2πk).
    fn a(&self, n: i64) -> f64 {
        let kmax = self.scaled.len() as i64 + n.abs();
        (1..kmax)
            .map(|k| {
                let sign = if k % 2 == 1 { 1.0 } else { -1.0 };
                sign * (self.i(k - n) - self.i(k + n)) / (2.0 * PI * k as f64)
            })
            .sum()
    }

    /// B_n e^{−β} = Î_n/12 + Σ_{k≥1} (−1)^k [Î_{k−n} + Î_{k+n}] / (2π²k²).
    fn b(&self, n: i64) -> f64 {
        let kmax = self.scaled.len() as i64 + n.abs();
        self.i(n) / 12.0
            + (1..kmax)
                .map(|k| {
                    let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
                    sign * (self.i(k - n) + self.i(k + n)) / (2.0 * PI * PI * (k * k) as f64)
                })
                .sum::<f64>()
    }

    /// ⟨Q²⟩ = Σ_n [V I_n^{V−1} B_n − V(V−1) I_n^{V−2} A_n²] / Z of the geometric charge.
    pub fn q2(&self) -> f64 {
        let v = self.volume as i32;
        let vf = self.volume as f64;
        let i0 = self.i(0);
        let num = self.sum_over_n(|n| {
            let r = self.ratio(n);
            let (a, b) = (self.a(n) / i0, self.b(n) / i0);
            vf * r.powi(v - 1) * b - vf * (vf - 1.0) * r.powi(v - 2) * a * a
        });
        num / self.z_ratio()
    }

    /// χ_t = ⟨Q²⟩ / V.
    pub fn chi_t(&self) -> f64 {
        self.q2() / self.volume as f64
    }

    /// J(n + θ/2π) e^{−β} / Î_0 = Σ_m (Î_m/Î_0) sin(π(m + n) + θ/2) / (π(m + n) + θ/2), the
    /// sine taken as (−1)^{m+n} sin(θ/2) so that it stays exact for large n.
    fn j(&self, n: i64, theta: f64) -> f64 {
        let m_max = self.scaled.len() as i64 - 1;
        let s = (0.5 * theta).sin();
        (-m_max..=m_max)
            .map(|m| {
                let u = PI * (m + n) as f64 + 0.5 * theta;
                let sinc = if u == 0.0 {
                    1.0
                } else if (m + n) % 2 == 0 {
                    s / u
                } else {
                    -s / u
                };
                self.ratio(m) * sinc
            })
            .sum()
    }

    /// Z(θ)/I_0^V = Σ_n (J(n + θ/2π)/I_0)^V.
    fn z_theta(&self, theta: f64) -> f64 {
        let v = self.volume as i32;
        let mut total = self.j(0, theta).powi(v);
        let mut largest = total.abs();
        for n in 1..100_000 {
            let term = self.j(n, theta).powi(v) + self.j(-n, theta).powi(v);
            total += term;
            largest = largest.max(term.abs());
            if term.abs() <= NEGLIGIBLE * largest && n as f64 > 2.0 * self.beta {
                break;
            }
        }
        total
    }

    /// P(Q) for Q = −q_max … q_max (index Q + q_max): the distribution of the geometric
    /// charge, by the trapezoid rule on Z(θ) (exact to rounding for |Q| ≪ 512).
    pub fn charge_distribution(&self, q_max: usize) -> Vec<f64> {
        assert!(
            q_max < THETA_POINTS / 4,
            "P(Q) up to |Q| < {}",
            THETA_POINTS / 4
        );
        let z: Vec<f64> = (0..THETA_POINTS / 2 + 1)
            .map(|j| self.z_theta(2.0 * PI * j as f64 / THETA_POINTS as f64))
            .collect();
        let total = self.z_ratio();
        (-(q_max as i64)..=q_max as i64)
            .map(|q| {
                // Z(θ) is even: the points θ_j and −θ_j together.
                let mut sum = z[0] + z[THETA_POINTS / 2] * (PI * q as f64).cos();
                for (j, zj) in z.iter().enumerate().take(THETA_POINTS / 2).skip(1) {
                    let theta = 2.0 * PI * j as f64 / THETA_POINTS as f64;
                    sum += 2.0 * zj * (theta * q as f64).cos();
                }
                sum / THETA_POINTS as f64 / total
            })
            .collect()
    }

    /// I_1/I_0: ⟨cos θ_P⟩ in infinite volume (and W(A) = (I_1/I_0)^A).
    pub fn plaquette_infinite_volume(&self) -> f64 {
        self.ratio(1)
    }

    /// B_0/I_0: χ_t in infinite volume.
    pub fn chi_t_infinite_volume(&self) -> f64 {
        self.b(0) / self.i(0)
    }
}
