//! The host side of the backend, which needs neither GPU nor compiler: the Philox generator
//! against Random123's known answers, the index tables, the launch geometry and the trajectory
//! schedules.

use lft_cuda::CudaError;
use lft_cuda::launch::{
    CONV_TILE, SHARED_LIMIT, conv_tiles, elementwise, per_configuration, reduction_width,
    weight_gradient,
};
use lft_cuda::philox::{PhiloxKey, normal_fill, philox4x32_10};
use lft_cuda::schedule::{MdStep, gradients, schedule};
use lft_cuda::tables::{NeighbourTables, conv_sites, kernel_offsets};
use lft_lattice::Lattice;
use lft_records::Integrator;

/// Random123's published known-answer vectors for Philox4x32-10.
#[test]
fn philox_gives_random123s_known_answers() {
    let cases = [
        (
            [0u32; 4],
            [0u32; 2],
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
        ),
        (
            [u32::MAX; 4],
            [u32::MAX; 2],
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
        ),
        (
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0],
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
        ),
    ];
    for (ctr, key, want) in cases {
        assert_eq!(philox4x32_10(ctr, PhiloxKey(key)), want, "counter {ctr:x?}");
    }
}

/// The Box–Muller draws are standard normal: mean, variance and fourth moment within 5σ of
/// 0, 1 and 3 (σ from the normal's own moments), and streams differ.
#[test]
fn philox_normals_are_standard_normal() {
    let n = 200_000;
    let mut z = vec![0.0; n];
    normal_fill(&mut z, PhiloxKey::from_seed(42), 0);
    let nf = n as f64;
    let mean = z.iter().sum::<f64>() / nf;
    let m2 = z.iter().map(|x| x * x).sum::<f64>() / nf;
    let m4 = z.iter().map(|x| x.powi(4)).sum::<f64>() / nf;
    // Var(z) = 1, Var(z²) = 2, Var(z⁴) = 105 − 9 = 96.
    assert!(mean.abs() < 5.0 / nf.sqrt(), "mean {mean}");
    assert!((m2 - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(), "⟨z²⟩ {m2}");
    assert!((m4 - 3.0).abs() < 5.0 * (96.0 / nf).sqrt(), "⟨z⁴⟩ {m4}");
    let mut other = vec![0.0; 16];
    normal_fill(&mut other, PhiloxKey::from_seed(42), 1);
    assert_ne!(&other[..], &z[..16], "stream 1 repeats stream 0");
}

#[test]
fn neighbour_tables_are_the_lattices() {
    let lattice = Lattice::new(&[3, 4, 5]).unwrap();
    let t = NeighbourTables::new(&lattice);
    let v = lattice.volume();
    for mu in 0..3 {
        for x in 0..v {
            assert_eq!(t.fwd[mu * v + x] as usize, lattice.fwd(x, mu));
            assert_eq!(t.bwd[mu * v + x] as usize, lattice.bwd(x, mu));
            assert_eq!(t.bwd[mu * v + t.fwd[mu * v + x] as usize] as usize, x);
        }
    }
}

/// Offset K − 1 − j is −δ_j: the input-gradient kernel's mirrored taps undo the forward ones.
#[test]
fn conv_tables_mirror_their_offsets() {
    for (shape, k) in [
        (vec![8], 5usize),
        (vec![4, 6], 3),
        (vec![3, 3, 4], 3),
        (vec![3, 3, 3, 3], 3),
    ] {
        let lattice = Lattice::new(&shape).unwrap();
        let (v, taps) = (lattice.volume(), k.pow(shape.len() as u32));
        let offsets = kernel_offsets(shape.len(), k);
        let sites = conv_sites(&lattice, k);
        assert_eq!(sites.len(), taps * v);
        for j in 0..taps {
            let mirrored: Vec<isize> = offsets[j].iter().map(|o| -o).collect();
            assert_eq!(offsets[taps - 1 - j], mirrored, "{shape:?} tap {j}");
            for x in 0..v {
                let y = sites[j * v + x] as usize;
                assert_eq!(
                    sites[(taps - 1 - j) * v + y] as usize,
                    x,
                    "{shape:?} tap {j} site {x}"
                );
            }
        }
        // The centre tap is the identity.
        assert!((0..v).all(|x| sites[(taps / 2) * v + x] as usize == x));
    }
}

/// Element grids cover every entry and no more than one block beyond; reduction blocks are
/// powers of two with a double of shared memory per thread.
#[test]
fn launch_geometry_covers_and_fits() {
    for count in [1, 255, 256, 257, 1 << 20, 12_345_678] {
        let l = elementwise(count).unwrap();
        let threads = l.grid.0 as usize * l.block.0 as usize;
        assert!(
            threads >= count && threads < count + l.block.0 as usize,
            "{count}"
        );
    }
    for v in [1, 7, 64, 256, 4096] {
        let w = reduction_width(v);
        assert!(w.is_power_of_two() && (32..=256).contains(&w), "{v}: {w}");
        let l = per_configuration(10, v).unwrap();
        assert_eq!((l.grid.0, l.shared_bytes), (10, 8 * w));
    }
    let l = conv_tiles(64, 1000, 584, 8, SHARED_LIMIT).unwrap();
    assert_eq!(
        l.grid,
        (1000usize.div_ceil(CONV_TILE as usize) as u32, 64, 1)
    );
    assert_eq!(l.shared_bytes, 584 * 8);
    // 32 → 32 channels with a 3×3 kernel in float64 need 73.9 KB: more than a block gets
    // without opting in, a named error rather than a failed launch.
    let too_big = 32 * (32 * 9 + 1) * 8;
    match conv_tiles(64, 1024, 32 * (32 * 9 + 1), 8, SHARED_LIMIT) {
        Err(CudaError::TooLarge { size, .. }) => assert_eq!(size, too_big),
        other => panic!("{other:?}"),
    }
    assert!(conv_tiles(64, 1024, 32 * (32 * 9 + 1), 8, 227 * 1024).is_ok());
    assert!(conv_tiles(70_000, 64, 10, 8, SHARED_LIMIT).is_err());
    let l = weight_gradient(146, 8192, 4096).unwrap();
    assert_eq!((l.grid.0, l.grid.1, l.block.0), (146, 32, 256));
    let l = weight_gradient(146, 8, 16).unwrap();
    assert_eq!((l.grid.1, l.block.0), (8, 32));
}

/// Leapfrog is N + 1 gradients per trajectory and Omelyan 2N + 1 (kicks of consecutive steps
/// merged); the drifts add up to the trajectory length and the kicks to it too.
#[test]
fn schedules_merge_kicks_and_keep_the_trajectory_length() {
    for (integrator, per_step) in [(Integrator::Leapfrog, 1), (Integrator::Omelyan, 2)] {
        let ops = schedule(integrator, 0.1, 10);
        assert_eq!(gradients(&ops), per_step * 10 + 1, "{integrator:?}");
        let (mut kicks, mut drifts) = (0.0, 0.0);
        for op in &ops {
            match op {
                MdStep::Kick(h) => kicks += h,
                MdStep::Drift(h) => drifts += h,
            }
        }
        assert!(
            (kicks - 1.0).abs() < 1e-12 && (drifts - 1.0).abs() < 1e-12,
            "{integrator:?}"
        );
        assert!(
            ops.windows(2)
                .all(|w| !matches!(w, [MdStep::Kick(_), MdStep::Kick(_)])),
            "{integrator:?}: unmerged kicks"
        );
    }
}
