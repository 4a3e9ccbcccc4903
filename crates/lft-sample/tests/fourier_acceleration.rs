//! Fourier-accelerated HMC (lft-sample's `FourierMass`): the mass-matrix operators agree with
//! each other and with plane waves, the integrators stay reversible and second order with the
//! mass matrix, on the free field with μ = m every mode decorrelates in one trajectory where
//! plain HMC's zero mode does not (per-mode τ_int of |φ̃_p|²), χ₂ and ⟨φ²⟩ of the free field are
//! exact within 4σ, and at E2 (L = 8, m² = −4, λ = 6.008) χ₂ agrees with plain HMC's within 4σ.

use lft_action::{Action, FreeField, Phi4, Phi4Params};
use lft_lattice::{Lattice, LatticeFft, gaussian_fill, stream_rng};
use lft_sample::{FourierMass, HmcChain, HmcParams, Integrate, Integrator, Start, thermalize_all};
use lft_stats::estimate_mean;
use std::f64::consts::PI;
use std::sync::Arc;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn the_mass_matrix_operators_agree() {
    let lat = Lattice::new(&[6, 4]).unwrap();
    let v = lat.volume();
    let mass = FourierMass::new(&lat, 0.3);
    // Momenta π = M^{1/2} ξ have kinetic energy ½ πᵀM⁻¹π = ½ |ξ|².
    let mut pi = vec![0.0; v];
    mass.draw(&mut stream_rng(1, 0), &mut pi);
    let mut xi = vec![0.0; v];
    gaussian_fill(&mut stream_rng(1, 0), &mut xi);
    let (k, want) = (mass.kinetic_energy(&pi), 0.5 * dot(&xi, &xi));
    assert!((k - want).abs() < 1e-12 * want, "{k} vs {want}");
    // M⁻¹ of a plane wave cos(p·x) is cos(p·x)/M_p, M_p = 2(p̂² + μ²).
    for k in [0, 1, 7, v - 1] {
        let p = lft_lattice::lattice_momentum(&lat, k);
        let wave: Vec<f64> = (0..v)
            .map(|x| {
                let c = lat.coords(x);
                (p[0] * c[0] as f64 + p[1] * c[1] as f64).cos()
            })
            .collect();
        let m_p = 2.0 * (lft_lattice::p_hat_squared(&lat, k) + 0.09);
        assert!((mass.eigenvalue(k) - m_p).abs() < 1e-12);
        let mut out = vec![0.0; v];
        mass.velocity(&wave, &mut out);
        for x in 0..v {
            assert!((out[x] - wave[x] / m_p).abs() < 1e-12, "mode {k}, site {x}");
        }
    }
    // M⁻¹ is symmetric, and the kinetic energy is ½ πᵀ(M⁻¹π).
    let (mut a, mut b) = (vec![0.0; v], vec![0.0; v]);
    gaussian_fill(&mut stream_rng(2, 0), &mut a);
    gaussian_fill(&mut stream_rng(3, 0), &mut b);
    let (mut ma, mut mb) = (vec![0.0; v], vec![0.0; v]);
    mass.velocity(&a, &mut ma);
    mass.velocity(&b, &mut mb);
    assert!((dot(&a, &mb) - dot(&ma, &b)).abs() < 1e-12);
    assert!((mass.kinetic_energy(&a) - 0.5 * dot(&a, &ma)).abs() < 1e-12);
}

#[test]
fn fourier_accelerated_integrators_are_reversible_and_second_order() {
    let lat = Lattice::new(&[8, 8]).unwrap();
    let v = lat.volume();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: -4.0,
            lambda: 6.008,
        },
    )
    .unwrap();
    let mass = FourierMass::new(&lat, 0.5);
    let mut phi = vec![0.0; v];
    action.hot_start(&mut stream_rng(4, 0), &mut phi);
    phi.iter_mut().for_each(|x| *x *= 0.3);
    for integrator in [Integrator::Leapfrog, Integrator::Omelyan] {
        let energy_error = |eps: f64, n: usize| {
            let (mut f, mut p, mut g) = (phi.clone(), vec![0.0; v], vec![0.0; v]);
            mass.draw(&mut stream_rng(5, 0), &mut p);
            action.gradient(&f, &mut g);
            let h0 = mass.kinetic_energy(&p) + action.action(&f);
            integrator.integrate_with_mass(&action, &mut f, &mut p, &mut g, eps, n, Some(&mass));
            let dh = mass.kinetic_energy(&p) + action.action(&f) - h0;
            // Reversibility: flip the momenta and integrate back.
            p.iter_mut().for_each(|x| *x = -*x);
            integrator.integrate_with_mass(&action, &mut f, &mut p, &mut g, eps, n, Some(&mass));
            for (a, b) in f.iter().zip(&phi) {
                assert!((a - b).abs() < 1e-10, "{integrator:?}: not reversible");
            }
            dh
        };
        // Second order: halving ε divides ΔH by about 4 (3 to 5 allowed for the next order).
        let ratio = energy_error(0.04, 25) / energy_error(0.02, 50);
        assert!(
            (3.0..5.0).contains(&ratio),
            "{integrator:?}: ΔH ratio {ratio}"
        );
    }
}

/// τ_int of |φ̃_p|² for the momentum indices `modes`, and the χ₂ and φ² series, of 4 chains of
/// `n` trajectories of length π/2 on the free field (m² = μ² = 1/16) at L = 8.
fn free_field_modes(fourier: bool, modes: &[usize], n: usize) -> (Vec<f64>, [f64; 2]) {
    let (l, m2) = (8, 1.0 / 16.0);
    let lat = Lattice::new(&[l, l]).unwrap();
    let v = lat.volume();
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let params = HmcParams {
        step_size: PI / 2.0 / 20.0,
        n_steps: 20,
        integrator: Integrator::Leapfrog,
        length_jitter: 0.2,
    };
    let mass = fourier.then(|| Arc::new(FourierMass::new(&lat, m2.sqrt())));
    let mut chains: Vec<HmcChain> = (0..4)
        .map(|c| {
            HmcChain::new(&action, Start::Hot, stream_rng(6, c), params).with_mass(mass.clone())
        })
        .collect();
    thermalize_all(&mut chains, &action, 200, None);
    let fft = LatticeFft::new(&lat);
    let (mut per_mode, mut chi2, mut phi2) = (
        vec![vec![Vec::new(); 4]; modes.len()],
        vec![Vec::new(); 4],
        vec![Vec::new(); 4],
    );
    for (c, chain) in chains.iter_mut().enumerate() {
        for _ in 0..n {
            chain.trajectory(&action);
            let phi = chain.field();
            let ft = fft.forward_real(phi);
            for (i, &k) in modes.iter().enumerate() {
                per_mode[i][c].push(ft[k].norm_sqr() / v as f64);
            }
            let m: f64 = phi.iter().sum();
            chi2[c].push(m * m / v as f64);
            phi2[c].push(dot(phi, phi) / v as f64);
        }
    }
    let mean = |s: &Vec<Vec<f64>>| {
        estimate_mean(&s.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap()
    };
    let taus = per_mode.iter().map(|s| mean(s).tau_int).collect();
    let exact = FreeField::new(lat.clone(), m2).unwrap();
    if fourier {
        for (name, s, want) in [("χ₂", &chi2, exact.chi2()), ("⟨φ²⟩", &phi2, exact.phi2())]
        {
            let est = mean(s);
            assert!(
                (est.value - want).abs() < 4.0 * est.error,
                "FA-HMC free field {name}: {est:?} vs exact {want}"
            );
        }
    }
    (taus, [mean(&chi2).value, mean(&phi2).value])
}

#[test]
fn on_the_free_field_every_mode_decorrelates_in_one_trajectory() {
    // p = 0, the smallest momentum, a middle one and the largest (L/2, L/2).
    let modes = [0, 1, 8 * 2 + 3, 8 * 4 + 4];
    let (fa, _) = free_field_modes(true, &modes, 3000);
    let (plain, _) = free_field_modes(false, &modes, 3000);
    eprintln!("τ_int(|φ̃_p|²): FA-HMC {fa:?}, plain HMC {plain:?}");
    for (k, tau) in modes.iter().zip(&fa) {
        assert!(*tau < 1.5, "FA-HMC mode {k}: τ_int {tau}");
    }
    // Plain HMC turns the zero mode (ω₀ = √2 m ≈ 0.35) by 0.56 rad per trajectory.
    assert!(plain[0] > 3.0, "plain HMC zero mode: τ_int {}", plain[0]);
}

#[test]
fn fourier_accelerated_chi2_at_e2_agrees_with_plain_hmc() {
    let lat = Lattice::new(&[8, 8]).unwrap();
    let v = lat.volume();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: -4.0,
            lambda: 6.008,
        },
    )
    .unwrap();
    let chi2 = |mass: Option<Arc<FourierMass>>, step: f64, seed: u64| {
        let params = HmcParams {
            step_size: step,
            n_steps: 10,
            integrator: Integrator::Omelyan,
            length_jitter: 0.2,
        };
        let mut chains: Vec<HmcChain> = (0..4)
            .map(|c| {
                HmcChain::new(&action, Start::Cold, stream_rng(seed, c), params)
                    .with_mass(mass.clone())
            })
            .collect();
        thermalize_all(&mut chains, &action, 500, None);
        let series: Vec<Vec<f64>> = chains
            .iter_mut()
            .map(|chain| {
                (0..5000)
                    .map(|_| {
                        chain.trajectory(&action);
                        let m: f64 = chain.field().iter().sum();
                        m * m / v as f64
                    })
                    .collect()
            })
            .collect();
        estimate_mean(&series.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap()
    };
    let plain = chi2(None, 0.1, 7);
    let fa = chi2(Some(Arc::new(FourierMass::new(&lat, 0.5))), 0.15, 8);
    eprintln!("E2 χ₂: plain {plain:?}, FA {fa:?}");
    let pull = (fa.value - plain.value) / fa.error.hypot(plain.error);
    assert!(pull.abs() < 4.0, "FA {fa:?} vs plain {plain:?}: {pull:.2}σ");
}

/// `tune_mass` on the free field finds μ = m: the tuning rule μ = 1/√(2χ₂) inverts the free
/// field's χ₂ = 1/(2m²). From μ = 1 at L = 8, m² = 0.09, every chain ends within 15 % of 0.3
/// (the pilot's χ₂ has a relative error of about 7 %, so μ about 3.5 %).
#[test]
fn the_mass_tuning_finds_the_free_fields_mass() {
    use lft_sample::Sampler;
    let lat = Lattice::new(&[8, 8]).unwrap();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: 0.09,
            lambda: 0.0,
        },
    )
    .unwrap();
    let sampler = lft_sample::HmcSampler {
        action: &action,
        params: HmcParams {
            step_size: 0.2,
            n_steps: 8,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.2,
        },
        start: Start::Cold,
        seed: 3,
        thermalization: 4000,
        tune: Some(0.8),
        mass: Some(Arc::new(FourierMass::new(&lat, 1.0))),
        tune_mass: true,
    };
    let mut chains: Vec<_> = (0..4).map(|c| sampler.fresh(c)).collect();
    sampler.thermalize(&mut chains).unwrap();
    for c in &chains {
        let mu = c.chain.mass().unwrap().mu();
        assert!((mu - 0.3).abs() < 0.15 * 0.3, "tuned μ {mu}, free mass 0.3");
    }
    // The rule itself, and its bounds.
    assert!((lft_sample::fa_mass_for_chi2(1.0 / (2.0 * 0.09), &lat) - 0.3).abs() < 1e-12);
    assert_eq!(lft_sample::fa_mass_for_chi2(1e9, &lat), 0.5 / 8.0);
    assert_eq!(lft_sample::fa_mass_for_chi2(0.0, &lat), 2.0);
}
