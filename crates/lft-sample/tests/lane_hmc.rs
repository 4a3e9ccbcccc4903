//! Lane-batched HMC ([`LaneHmc`]) is bit-identical to one [`HmcChain`] per configuration on
//! the tempered φ⁴ target: same fields, same acceptances, same generator states, for both
//! integrators, with and without trajectory-length jitter, at β = 0, in between and at 1, from
//! the standard normal, the free-field and the Z₂-mixture priors.

use lft_action::{Action, Phi4, Phi4Params};
use lft_flow::{Prior, PriorSpec};
use lft_lattice::{LANES, Lattice, RngState, gaussian_fill, stream_rng};
use lft_sample::anneal::Tempered;
use lft_sample::{HmcChain, HmcParams, Integrator, LaneHmc};

#[test]
fn lane_hmc_equals_one_chain_per_lane_bitwise() {
    for (shape, spec) in [
        (vec![14, 14], PriorSpec::StandardNormal),
        (vec![4, 3, 5], PriorSpec::StandardNormal),
        (vec![14, 14], PriorSpec::FreeField { m2: 0.7 }),
        (vec![4, 3, 5], PriorSpec::FreeField { m2: 1.3 }),
        (vec![14, 14], PriorSpec::Z2Mixture { shift: 0.6 }),
        (vec![4, 3, 5], PriorSpec::Z2Mixture { shift: 0.05 }),
    ] {
        let lat = Lattice::new(&shape).unwrap();
        let v = lat.volume();
        let prior = Prior::new(spec, &lat).unwrap();
        let action = Phi4::new(
            lat,
            Phi4Params {
                m2: -4.75,
                lambda: 5.1,
            },
        )
        .unwrap();
        let mut accepted = [0usize; 2];
        for (beta, integrator, jitter) in [
            (0.0, Integrator::Leapfrog, 0.0),
            (0.43, Integrator::Leapfrog, 0.3),
            (0.43, Integrator::Omelyan, 0.0),
            (1.0, Integrator::Omelyan, 0.5),
        ] {
            let target = Tempered {
                prior: &prior,
                action: &action,
                beta,
            };
            let lanes = target.lanes().expect("phi^4 has lanes with every prior");
            let params = HmcParams {
                step_size: 0.12,
                n_steps: 8,
                integrator,
                length_jitter: jitter,
            };
            let mut fields = vec![0.0; LANES * v];
            gaussian_fill(&mut stream_rng(3, 0), &mut fields);
            let mut rngs: Vec<_> = (0..LANES as u64).map(|l| stream_rng(5, l)).collect();
            let mut chains: Vec<HmcChain> = fields
                .chunks_exact(v)
                .zip(&rngs)
                .map(|(f, rng)| HmcChain::resume(&target, f.to_vec(), rng.clone(), params))
                .collect();
            let mut hmc = LaneHmc::new(&lanes, &fields);
            for _ in 0..6 {
                let lane_accepts = hmc.trajectory(&lanes, params, &mut rngs);
                for (l, chain) in chains.iter_mut().enumerate() {
                    let record = chain.trajectory(&target);
                    assert_eq!(
                        record.accepted, lane_accepts[l],
                        "{shape:?} {spec:?} β={beta} lane {l}"
                    );
                    accepted[usize::from(record.accepted)] += 1;
                }
            }
            let what = format!("{shape:?} {spec:?} β={beta} {integrator:?} jitter {jitter}");
            hmc.write_fields(&mut fields);
            let s = hmc.action_values();
            for (l, chain) in chains.iter().enumerate() {
                let same = chain
                    .field()
                    .iter()
                    .zip(&fields[l * v..(l + 1) * v])
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{what}: lane {l} field differs");
                assert_eq!(s[l].to_bits(), chain.action_value().to_bits(), "{what}");
                assert_eq!(RngState::of(&rngs[l]), chain.rng_state(), "{what}");
                assert_eq!(s[l].to_bits(), target.action(chain.field()).to_bits());
            }
        }
        assert!(
            accepted[0] > 0 && accepted[1] > 0,
            "{shape:?} {spec:?}: both outcomes occur, {accepted:?}"
        );
    }
}
