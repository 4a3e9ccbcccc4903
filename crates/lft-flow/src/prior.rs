//! Prior distributions r(z) of the flow's latent variables.

use lft_action::{Action, FreeField, Phi4, Phi4Params};
use lft_lattice::{Complex64, Lattice, LatticeFft, Pcg64, gaussian_fill, p_hat_squared};
use std::sync::Arc;

/// Which prior a flow starts from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PriorSpec {
    /// Independent N(0, 1) variables.
    StandardNormal,
    /// The free field of mass² `m2` (AKS normalisation), sampled exactly.
    FreeField { m2: f64 },
    /// The Z₂-symmetric mixture ½ N(+a, 1)^V + ½ N(−a, 1)^V of two unit normals centred on the
    /// constant fields ±a, a = `shift` > 0: both ordered vacua of a broken phase are in the
    /// prior, so that a flow (or an annealing path) starting from it need not split one mode
    /// into two.
    Z2Mixture { shift: f64 },
    /// Independent uniform angles in [−π, π): the normalised Haar measure of U(1) links
    /// (annealing gauge fields).
    Uniform,
}

/// A prior, ready to sample and evaluate.
#[derive(Clone)]
pub enum Prior {
    /// log r(z) = −½ Σ_x z_x² − (V/2) log 2π.
    StandardNormal,
    /// r(φ) = e^{−S₀(φ)} / Z₀ with S₀ = Σ_x [Σ_μ (φ_{x+μ̂} − φ_x)² + m² φ_x²]: sampled as
    /// φ = F⁻¹ [ σ_p · F η ], η ~ N(0, 1)^V, σ_p = (2(p̂² + m²))^{−1/2}, so that
    /// ⟨φ̃(p) φ̃(−p)⟩ = V / (2(p̂² + m²)) exactly.
    FreeField {
        action: Arc<Phi4>,
        fft: Arc<LatticeFft>,
        sigma: Arc<Vec<f64>>,
        log_z: f64,
    },
    /// log r(z) = −½ Σ_x z_x² − V a²/2 + log cosh(a M) − (V/2) log 2π, M = Σ_x z_x: the
    /// mixture ½ N(a·1, I) + ½ N(−a·1, I) on V sites, sampled as z = s a + η, s = ±1 with
    /// probability ½, η ~ N(0, 1)^V.
    Z2Mixture { shift: f64, volume: usize },
    /// log r(θ) = −n log 2π on [−π, π)^n for the n = d·V `links`: uniform angles (the Haar
    /// measure of U(1) links); a longer state (the Schwinger model's joint target with its
    /// pseudofermion) has independent N(0, 1) on the rest.
    Uniform { links: usize },
}

impl std::fmt::Debug for Prior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Prior::StandardNormal => write!(f, "StandardNormal"),
            Prior::FreeField { action, .. } => {
                write!(f, "FreeField {{ m2: {} }}", action.params().m2)
            }
            Prior::Z2Mixture { shift, .. } => write!(f, "Z2Mixture {{ shift: {shift} }}"),
            Prior::Uniform { .. } => write!(f, "Uniform"),
        }
    }
}

impl Prior {
    /// The prior of `spec` on `lattice` (m² must be > 0 for the free field, the shift finite
    /// and > 0 for the mixture).
    pub fn new(spec: PriorSpec, lattice: &Lattice) -> Result<Self, lft_action::ActionError> {
        Ok(match spec {
            PriorSpec::StandardNormal => Prior::StandardNormal,
            PriorSpec::Uniform => Prior::Uniform {
                links: lattice.dim() * lattice.volume(),
            },
            PriorSpec::Z2Mixture { shift } => {
                if !(shift.is_finite() && shift > 0.0) {
                    return Err(lft_action::ActionError {
                        name: "shift",
                        value: shift,
                        reason: "the Z2 mixture prior needs a finite shift > 0",
                    });
                }
                Prior::Z2Mixture {
                    shift,
                    volume: lattice.volume(),
                }
            }
            PriorSpec::FreeField { m2 } => {
                let free = FreeField::new(lattice.clone(), m2)?;
                let sigma = (0..lattice.volume())
                    .map(|k| (0.5 / (p_hat_squared(lattice, k) + m2)).sqrt())
                    .collect();
                Prior::FreeField {
                    action: Arc::new(Phi4::new(lattice.clone(), Phi4Params { m2, lambda: 0.0 })?),
                    fft: Arc::new(LatticeFft::new(lattice)),
                    sigma: Arc::new(sigma),
                    log_z: free.log_z(),
                }
            }
        })
    }

    /// Draws one configuration. A state longer than the lattice (a scalar field followed by
    /// auxiliary fields, as the joint Yukawa target's pseudofermion) has the prior on its
    /// first V components and independent N(0, 1) on the rest; so do [`Prior::log_prob`] and
    /// [`Prior::grad_neg_log_prob`].
    pub fn sample(&self, rng: &mut Pcg64, z: &mut [f64]) {
        if let &Prior::Uniform { links } = self {
            let pi = std::f64::consts::PI;
            let (angles, rest) = z.split_at_mut(links.min(z.len()));
            angles.iter_mut().for_each(|x| {
                *x = lft_lattice::gauge::wrap_link(pi * (2.0 * lft_lattice::uniform(rng) - 1.0))
            });
            gaussian_fill(rng, rest);
            return;
        }
        gaussian_fill(rng, z);
        if let Prior::FreeField { fft, sigma, .. } = self {
            let z = &mut z[..sigma.len()];
            let mut c: Vec<Complex64> = z.iter().map(|&x| Complex64::new(x, 0.0)).collect();
            fft.forward(&mut c);
            c.iter_mut().zip(sigma.iter()).for_each(|(c, s)| *c *= s);
            fft.inverse(&mut c);
            z.iter_mut().zip(&c).for_each(|(z, c)| *z = c.re);
        }
        if let Prior::Z2Mixture { shift, volume } = *self {
            let a = if lft_lattice::uniform(rng) < 0.5 {
                shift
            } else {
                -shift
            };
            z[..volume].iter_mut().for_each(|z| *z += a);
        }
    }

    /// log r(z).
    pub fn log_prob(&self, z: &[f64]) -> f64 {
        match self {
            Prior::StandardNormal => standard_normal_log_prob(z),
            &Prior::Uniform { links } => {
                let (angles, rest) = z.split_at(links.min(z.len()));
                let rest = if rest.is_empty() {
                    0.0
                } else {
                    standard_normal_log_prob(rest)
                };
                -(angles.len() as f64) * (2.0 * std::f64::consts::PI).ln() + rest
            }
            Prior::FreeField {
                action,
                log_z,
                sigma,
                ..
            } => {
                let (field, rest) = z.split_at(sigma.len());
                let rest = if rest.is_empty() {
                    0.0
                } else {
                    standard_normal_log_prob(rest)
                };
                -action.action(field) - log_z + rest
            }
            &Prior::Z2Mixture { shift, volume } => {
                let m: f64 = z[..volume].iter().sum();
                standard_normal_log_prob(z) - 0.5 * volume as f64 * shift * shift
                    + log_cosh(shift * m)
            }
        }
    }

    /// out = ∂(−log r)/∂z: z for the standard normal, ∇S₀(z) for the free field.
    pub fn grad_neg_log_prob(&self, z: &[f64], out: &mut [f64]) {
        match self {
            Prior::StandardNormal => out.copy_from_slice(z),
            &Prior::Uniform { links } => {
                let links = links.min(z.len());
                out[..links].fill(0.0);
                out[links..].copy_from_slice(&z[links..]);
            }
            Prior::FreeField { action, sigma, .. } => {
                let v = sigma.len();
                action.gradient(&z[..v], &mut out[..v]);
                out[v..].copy_from_slice(&z[v..]);
            }
            &Prior::Z2Mixture { shift, volume } => {
                out.copy_from_slice(z);
                let pull = shift * (shift * z[..volume].iter().sum::<f64>()).tanh();
                out[..volume].iter_mut().for_each(|o| *o -= pull);
            }
        }
    }

    /// out = H v with H = ∂²(−log r)/∂z∂z: v for the standard normal, the free-field Hessian
    /// for the free field, v − a² sech²(aM) (Σ_x v_x) on the first V sites for the Z₂
    /// mixture, 0 for uniform angles.
    pub fn hessian_vector(&self, z: &[f64], v: &[f64], out: &mut [f64]) {
        match self {
            Prior::StandardNormal => out.copy_from_slice(v),
            &Prior::Uniform { links } => {
                let links = links.min(z.len());
                out[..links].fill(0.0);
                out[links..].copy_from_slice(&v[links..]);
            }
            Prior::FreeField { action, sigma, .. } => {
                let n = sigma.len();
                action.hessian_vector(&z[..n], &v[..n], &mut out[..n]);
                out[n..].copy_from_slice(&v[n..]);
            }
            &Prior::Z2Mixture { shift, volume } => {
                out.copy_from_slice(v);
                let m: f64 = z[..volume].iter().sum();
                let sech = 1.0 / (shift * m).cosh();
                let pull = shift * shift * sech * sech * v[..volume].iter().sum::<f64>();
                out[..volume].iter_mut().for_each(|o| *o -= pull);
            }
        }
    }
}

/// log cosh x = |x| + log(1 + e^{−2|x|}) − log 2, without overflow for large |x|.
pub fn log_cosh(x: f64) -> f64 {
    let a = x.abs();
    a + (-2.0 * a).exp().ln_1p() - std::f64::consts::LN_2
}

/// −½ Σ z² − (n/2) log 2π for n = `z.len()` independent N(0, 1) variables.
fn standard_normal_log_prob(z: &[f64]) -> f64 {
    -0.5 * z.iter().map(|x| x * x).sum::<f64>()
        - 0.5 * z.len() as f64 * (2.0 * std::f64::consts::PI).ln()
}

/// Samples of the reverse KL that [`fit_free_field_mass`] averages.
pub const FIT_SAMPLES: usize = 256;

/// The mass² of the free-field prior closest to e^{−S} in the reverse Kullback–Leibler
/// divergence: the minimiser over m² of
///   K(m²) = (1/n) Σ_b [log r_{m²}(φ_b) + S(φ_b)],  φ_b = F⁻¹[σ_p(m²) √V e^{iθ_{b,p}}],
/// n = [`FIT_SAMPLES`], σ_p(m²) = (2(p̂² + m²))^{−1/2}: free fields whose Fourier modes have
/// their mean amplitude and random phases θ (from stream (seed, 0), the same for every m²,
/// with θ_{−p} = −θ_p so that φ is real). With these the Gaussian part of K is exact, so the
/// fit of a free field (λ = 0) is its own m²; by golden-section search in log m² over
/// [10⁻², 10²], rounded to four significant digits (a value every machine reproduces).
pub fn fit_free_field_mass(lattice: &Lattice, action: &dyn Action, seed: u64) -> f64 {
    let fft = LatticeFft::new(lattice);
    let phases = random_phases(lattice, seed);
    let kl = |log_m2: f64| free_field_kl_with(lattice, action, log_m2.exp(), &fft, &phases);
    let golden = 0.5 * (5f64.sqrt() - 1.0);
    let (mut a, mut b) = (1e-2f64.ln(), 1e2f64.ln());
    let mut c = b - golden * (b - a);
    let mut d = a + golden * (b - a);
    let (mut kc, mut kd) = (kl(c), kl(d));
    for _ in 0..60 {
        if kc < kd {
            b = d;
            d = c;
            kd = kc;
            c = b - golden * (b - a);
            kc = kl(c);
        } else {
            a = c;
            c = d;
            kc = kd;
            d = a + golden * (b - a);
            kd = kl(d);
        }
    }
    let m2 = (0.5 * (a + b)).exp();
    let scale = 10f64.powi(3 - m2.log10().floor() as i32);
    (m2 * scale).round() / scale
}

/// K(m²) of [`fit_free_field_mass`], the criterion it minimises.
pub fn free_field_kl(lattice: &Lattice, action: &dyn Action, m2: f64, seed: u64) -> f64 {
    let phases = random_phases(lattice, seed);
    free_field_kl_with(lattice, action, m2, &LatticeFft::new(lattice), &phases)
}

fn free_field_kl_with(
    lattice: &Lattice,
    action: &dyn Action,
    m2: f64,
    fft: &LatticeFft,
    phases: &[f64],
) -> f64 {
    let v = lattice.volume();
    let prior =
        Prior::new(PriorSpec::FreeField { m2 }, lattice).expect("m² > 0 on the search interval");
    let amplitude: Vec<f64> = (0..v)
        .map(|k| (v as f64 * 0.5 / (p_hat_squared(lattice, k) + m2)).sqrt())
        .collect();
    let mut total = 0.0;
    let mut phi = vec![0.0; v];
    for theta in phases.chunks_exact(v) {
        let mut c: Vec<Complex64> = theta
            .iter()
            .zip(&amplitude)
            .map(|(&t, &a)| Complex64::from_polar(a, t))
            .collect();
        fft.inverse(&mut c);
        phi.iter_mut().zip(&c).for_each(|(x, c)| *x = c.re);
        total += prior.log_prob(&phi) + action.action(&phi);
    }
    let mean = total / FIT_SAMPLES as f64;
    if mean.is_nan() { f64::INFINITY } else { mean }
}

/// [`FIT_SAMPLES`] sets of phases θ_p, `[n, V]`, with θ_{−p} = −θ_p, and θ_p ∈ {0, π} where
/// p = −p: the Fourier modes of real fields.
fn random_phases(lattice: &Lattice, seed: u64) -> Vec<f64> {
    let v = lattice.volume();
    let minus: Vec<usize> = (0..v).map(|k| lattice.negated(k)).collect();
    let mut rng = lft_lattice::stream_rng(seed, 0);
    let mut out = vec![0.0; FIT_SAMPLES * v];
    for theta in out.chunks_exact_mut(v) {
        for k in 0..v {
            let u = lft_lattice::uniform(&mut rng);
            match minus[k].cmp(&k) {
                std::cmp::Ordering::Greater => theta[k] = 2.0 * std::f64::consts::PI * u,
                std::cmp::Ordering::Less => theta[k] = -theta[minus[k]],
                std::cmp::Ordering::Equal => {
                    theta[k] = if u < 0.5 { 0.0 } else { std::f64::consts::PI }
                }
            }
        }
    }
    out
}
