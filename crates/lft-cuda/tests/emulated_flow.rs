//! The flow kernels (convolutions, couplings, the spline, Z₂ symmetrisation, reductions, Adam,
//! Philox draws), run on the host emulator, against lft-flow's CPU code: float64 to rounding,
//! float32 to its own tolerance.

mod common;

use common::{assert_close, normals, rng, run_all, uniforms};
use lft_cuda::call::HostTable;
use lft_cuda::ops::conv::{Act, ConvLayer, Float};
use lft_cuda::ops::coupling::{Mask, Mirror, SplineShape};
use lft_cuda::ops::{random, reduce};
use lft_cuda::philox::{PhiloxKey, normal_fill};
use lft_cuda::tables::conv_sites;
use lft_flow::conv::{ConvScratch, KernelShifts, PeriodicConv};
use lft_flow::spline::RqSpline;
use lft_flow::transform::ElementwiseTransform;
use lft_flow::{Adam, Affine};
use lft_lattice::Lattice;

/// Convolution forward (with its activation), input and weight gradients, in both precisions.
#[test]
fn convolutions_match_lft_flow() {
    let lattice = Lattice::new(&[4, 6]).unwrap();
    let (v, n, c_in, c_out, k) = (24, 3, 2, 3, 3);
    let shifts = KernelShifts::new(&lattice, k);
    let conv = PeriodicConv::new(c_in, c_out, &shifts);
    let mut r = rng(30);
    let params = normals(&mut r, conv.n_params(), 0.5);
    let h = normals(&mut r, n * c_in * v, 1.0);
    let g = normals(&mut r, n * c_out * v, 1.0);
    // The CPU reference, configuration by configuration.
    let mut scratch = ConvScratch::default();
    let mut want_pre = vec![0.0; n * c_out * v];
    let mut want_dh = vec![0.0; n * c_in * v];
    let mut want_dparams = vec![0.0; conv.n_params()];
    for b in 0..n {
        let hb = &h[b * c_in * v..][..c_in * v];
        let gb = &g[b * c_out * v..][..c_out * v];
        conv.forward(
            &shifts,
            &params,
            hb,
            &mut want_pre[b * c_out * v..][..c_out * v],
            &mut scratch,
        );
        let dh = &mut want_dh[b * c_in * v..][..c_in * v];
        conv.backward(
            &shifts,
            &params,
            hb,
            gb,
            &mut want_dparams,
            Some(dh),
            &mut scratch,
        );
    }
    let want_y: Vec<f64> = want_pre.iter().map(|x| x.tanh()).collect();
    for (float, tol) in [(Float::F64, 1e-12), (Float::F32, 2e-5)] {
        let mut table = HostTable::default();
        let to_table = |table: &mut HostTable, x: &[f64]| match float {
            Float::F64 => table.f64(x),
            Float::F32 => table.f32(&x.iter().map(|&v| v as f32).collect::<Vec<_>>()),
        };
        // 1000 zero-padding parameters in front: the layer reads from its offset.
        let mut flat = vec![0.0; 1000];
        flat.extend(&params);
        let layer = ConvLayer {
            c_in,
            c_out,
            taps: shifts.len(),
            volume: v,
            float,
            sites: table.i32(&conv_sites(&lattice, k)),
            params: table.f64(&flat),
            offset: 1000,
            shared_limit: lft_cuda::launch::SHARED_LIMIT,
        };
        let hb = to_table(&mut table, &h);
        let gb = to_table(&mut table, &g);
        let zeros = vec![0.0; n * c_out * v];
        let pre = to_table(&mut table, &zeros);
        let y = to_table(&mut table, &zeros);
        let gpre = to_table(&mut table, &zeros);
        let dh = to_table(&mut table, &vec![0.0; n * c_in * v]);
        let dparams = table.zeros(1000 + conv.n_params());
        let calls = [
            layer.forward(n, hb, Act::Tanh, Some(pre), y).unwrap(),
            layer
                .activation_backward(n, Act::Tanh, pre, gb, gpre)
                .unwrap(),
            layer.backward_input(n, gb, false, dh).unwrap(),
            layer.backward_weight(n, hb, gb, dparams).unwrap(),
        ];
        let results = run_all("conv", &table, &calls);
        for (backend, table) in &results {
            let want_gpre: Vec<f64> = g
                .iter()
                .zip(&want_pre)
                .map(|(g, p)| g * (1.0 - p.tanh().powi(2)))
                .collect();
            assert_close(
                &format!("{backend:?} {float:?} pre"),
                &table.get(pre),
                &want_pre,
                backend.tol(tol),
            );
            assert_close(
                &format!("{backend:?} {float:?} y"),
                &table.get(y),
                &want_y,
                backend.tol(tol),
            );
            assert_close(
                &format!("{backend:?} {float:?} gpre"),
                &table.get(gpre),
                &want_gpre,
                backend.tol(tol),
            );
            assert_close(
                &format!("{backend:?} {float:?} dh"),
                &table.get(dh),
                &want_dh,
                backend.tol(tol),
            );
            let dp = table.get(dparams);
            assert!(
                dp[..1000].iter().all(|&x| x == 0.0),
                "{float:?}: wrote outside its layer"
            );
            assert_close(
                &format!("{backend:?} {float:?} dparams"),
                &dp[1000..],
                &want_dparams,
                backend.tol(tol),
            );
        }
    }
}

fn checkerboard(lattice: &Lattice) -> Vec<f64> {
    (0..lattice.volume())
        .map(|x| (lattice.coords(x).iter().sum::<usize>() % 2) as f64)
        .collect()
}

/// Affine coupling: forward, inverse, log-det and both backward passes, site by site against
/// lft-flow's Affine transform.
#[test]
fn affine_couplings_match_lft_flow() {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let (v, n) = (16, 3);
    let active = checkerboard(&lattice);
    let mut r = rng(40);
    let x = normals(&mut r, n * v, 1.0);
    let theta = normals(&mut r, n * 2 * v, 0.7);
    let gy = normals(&mut r, n * v, 1.0);
    let gld = normals(&mut r, n, 1.0);
    let mut table = HostTable::default();
    let mask = Mask {
        volume: v,
        active: table.f64(&active),
    };
    let (xb, tb, gyb, gldb) = (
        table.f64(&x),
        table.f64(&theta),
        table.f64(&gy),
        table.f64(&gld),
    );
    let (y, back) = (table.zeros(n * v), table.zeros(n * v));
    let (ld_fwd, ld_inv) = (table.f64(&[0.5; 3]), table.zeros(n));
    let (gx, gtheta) = (table.zeros(n * v), table.zeros(n * 2 * v));
    let (gx_inv, gtheta_inv) = (table.zeros(n * v), table.zeros(n * 2 * v));
    let calls = [
        mask.affine(n, xb, tb, false, 1.0, y, ld_fwd).unwrap(),
        mask.affine(n, y, tb, true, -1.0, back, ld_inv).unwrap(),
        mask.affine_backward(n, false, xb, tb, gyb, gldb, gx, gtheta)
            .unwrap(),
        mask.affine_backward(n, true, xb, tb, gyb, gldb, gx_inv, gtheta_inv)
            .unwrap(),
    ];
    let results = run_all("affine", &table, &calls);
    let (mut want_y, mut want_ld) = (x.clone(), vec![0.5; n]);

    let (mut want_gx, mut want_gt) = (gy.clone(), vec![0.0; n * 2 * v]);
    let (mut want_gx_inv, mut want_gt_inv) = (gy.clone(), vec![0.0; n * 2 * v]);
    for b in 0..n {
        for s in (0..v).filter(|&s| active[s] != 0.0) {
            let i = b * v + s;
            let th = [theta[b * 2 * v + s], theta[b * 2 * v + v + s]];
            let (yy, l) = Affine.forward(x[i], &th);
            want_y[i] = yy;
            want_ld[b] += l;
            let mut dt = [0.0; 2];
            want_gx[i] = Affine.backward(x[i], &th, gy[i], gld[b], &mut dt);
            want_gt[b * 2 * v + s] = dt[0];
            want_gt[b * 2 * v + v + s] = dt[1];
            let mut dt = [0.0; 2];
            want_gx_inv[i] = Affine.inverse_backward(x[i], &th, gy[i], gld[b], &mut dt);
            want_gt_inv[b * 2 * v + s] = dt[0];
            want_gt_inv[b * 2 * v + v + s] = dt[1];
        }
    }
    for (backend, table) in &results {
        assert_close(
            &format!("{backend:?} y"),
            &table.get(y),
            &want_y,
            backend.tol(1e-13),
        );
        assert_close(
            &format!("{backend:?} log det"),
            &table.get(ld_fwd),
            &want_ld,
            backend.tol(1e-13),
        );
        assert_close(
            &format!("{backend:?} inverse"),
            &table.get(back),
            &x,
            backend.tol(1e-13),
        );
        let ld_inv_want: Vec<f64> = want_ld.iter().map(|l| -(l - 0.5)).collect();
        assert_close(
            &format!("{backend:?} inverse log det"),
            &table.get(ld_inv),
            &ld_inv_want,
            backend.tol(1e-13),
        );
        assert_close(
            &format!("{backend:?} gx"),
            &table.get(gx),
            &want_gx,
            backend.tol(1e-13),
        );
        assert_close(
            &format!("{backend:?} gθ"),
            &table.get(gtheta),
            &want_gt,
            backend.tol(1e-13),
        );
        assert_close(
            &format!("{backend:?} inverse gy"),
            &table.get(gx_inv),
            &want_gx_inv,
            backend.tol(1e-13),
        );
        assert_close(
            &format!("{backend:?} inverse gθ"),
            &table.get(gtheta_inv),
            &want_gt_inv,
            backend.tol(1e-13),
        );
    }
}

/// Rational-quadratic spline coupling, inputs also outside [−B, B] and on frozen sites.
#[test]
fn spline_couplings_match_lft_flow() {
    let spline = RqSpline {
        bins: 5,
        bound: 3.0,
        min_width: 1e-3,
        min_height: 1e-3,
        min_derivative: 1e-3,
    };
    let shape = SplineShape::from(&spline);
    let lattice = Lattice::new(&[4, 6]).unwrap();
    let (v, n, p) = (24, 3, spline.params_per_site());
    let active = checkerboard(&lattice);
    let mut r = rng(50);
    let x = uniforms(&mut r, n * v, -3.6, 3.6);
    let raw = normals(&mut r, n * p * v, 1.2);
    let gy = normals(&mut r, n * v, 1.0);
    let gld = normals(&mut r, n, 1.0);
    let mut table = HostTable::default();
    let mask = Mask {
        volume: v,
        active: table.f64(&active),
    };
    let (xb, rb, gyb, gldb) = (
        table.f64(&x),
        table.f64(&raw),
        table.f64(&gy),
        table.f64(&gld),
    );
    let (y, back, ld, ld_inv) = (
        table.zeros(n * v),
        table.zeros(n * v),
        table.zeros(n),
        table.zeros(n),
    );
    let (gx, graw) = (table.zeros(n * v), table.f64(&vec![f64::NAN; n * p * v]));
    let calls = [
        mask.spline(n, &shape, xb, rb, false, 1.0, y, ld).unwrap(),
        mask.spline(n, &shape, y, rb, true, -1.0, back, ld_inv)
            .unwrap(),
        mask.spline_backward(n, &shape, xb, rb, gyb, gldb, gx, graw)
            .unwrap(),
    ];
    let results = run_all("spline", &table, &calls);
    let (mut want_y, mut want_ld) = (x.clone(), vec![0.0; n]);

    let (mut want_gx, mut want_graw) = (gy.clone(), vec![0.0; n * p * v]);
    for b in 0..n {
        for s in (0..v).filter(|&s| active[s] != 0.0) {
            let i = b * v + s;
            let site_raw: Vec<f64> = (0..p).map(|c| raw[(b * p + c) * v + s]).collect();
            let (yy, l) = spline.forward(x[i], &site_raw);
            want_y[i] = yy;
            want_ld[b] += l;
            let mut g = vec![0.0; p];
            want_gx[i] = spline.backward(x[i], &site_raw, gy[i], gld[b], &mut g);
            for c in 0..p {
                want_graw[(b * p + c) * v + s] = g[c];
            }
        }
    }
    let outside = x.iter().filter(|x| x.abs() > 3.0).count();
    assert!(
        outside > 0,
        "no input outside [−B, B]: the identity tails went untested"
    );
    for (backend, table) in &results {
        assert_close(
            &format!("{backend:?} y"),
            &table.get(y),
            &want_y,
            backend.tol(1e-12),
        );
        assert_close(
            &format!("{backend:?} log det"),
            &table.get(ld),
            &want_ld,
            backend.tol(1e-12),
        );
        assert_close(
            &format!("{backend:?} inverse"),
            &table.get(back),
            &x,
            backend.tol(1e-10),
        );
        let neg: Vec<f64> = want_ld.iter().map(|l| -l).collect();
        assert_close(
            &format!("{backend:?} inverse log det"),
            &table.get(ld_inv),
            &neg,
            backend.tol(1e-10),
        );
        assert_close(
            &format!("{backend:?} gx"),
            &table.get(gx),
            &want_gx,
            backend.tol(1e-12),
        );
        assert_close(
            &format!("{backend:?} g raw"),
            &table.get(graw),
            &want_graw,
            backend.tol(1e-12),
        );
    }
}

/// The conditioner's masked input, its Z₂ symmetrisation and their backward passes, against
/// their formulas.
#[test]
fn masks_and_mirrors_follow_their_formulas() {
    let (v, n, c) = (6, 2, 3);
    let active = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    let (perm, sign) = ([2, 1, 0], [1.0, -1.0, 1.0]);
    let mut r = rng(60);
    let x = normals(&mut r, n * v, 1.0);
    let (o_plus, o_minus) = (
        normals(&mut r, n * c * v, 1.0),
        normals(&mut r, n * c * v, 1.0),
    );
    let g = normals(&mut r, n * c * v, 1.0);
    let gf = normals(&mut r, n * v, 1.0);
    for float in [Float::F64, Float::F32] {
        let mut table = HostTable::default();
        let mask = Mask {
            volume: v,
            active: table.f64(&active),
        };
        let mirror = Mirror {
            channels: c,
            perm: table.i32(&perm),
            sign: table.f64(&sign),
        };
        let put = |table: &mut HostTable, x: &[f64]| match float {
            Float::F64 => table.f64(x),
            Float::F32 => table.f32(&x.iter().map(|&v| v as f32).collect::<Vec<_>>()),
        };
        let xb = table.f64(&x);
        let f = put(&mut table, &vec![0.0; n * v]);
        let (op, om) = (put(&mut table, &o_plus), put(&mut table, &o_minus));
        let gfb = put(&mut table, &gf);
        let gb = table.f64(&g);
        let gx = table.f64(&vec![1.0; n * v]);
        let (theta, theta_plain) = (table.zeros(n * c * v), table.zeros(n * c * v));
        let (gp, gm) = (
            put(&mut table, &vec![0.0; n * c * v]),
            put(&mut table, &vec![0.0; n * c * v]),
        );
        let calls = [
            mask.frozen_input(n, xb, -1.0, float, f).unwrap(),
            mask.frozen_input_backward(n, gfb, -1.0, float, gx).unwrap(),
            mirror.combine(n, v, float, op, Some(om), theta).unwrap(),
            mirror.combine(n, v, float, op, None, theta_plain).unwrap(),
            mirror.split(n, v, float, gb, gp, Some(gm)).unwrap(),
        ];
        let results = run_all("masks", &table, &calls);
        for (backend, table) in &results {
            let tol = if float == Float::F64 { 1e-15 } else { 1e-6 };
            let rd = |x: f64| {
                if float == Float::F64 {
                    x
                } else {
                    x as f32 as f64
                }
            };
            let at = |b: usize, ch: usize, s: usize| (b * c + ch) * v + s;
            let want_f: Vec<f64> = (0..n * v).map(|i| -(1.0 - active[i % v]) * x[i]).collect();
            let want_gx: Vec<f64> = (0..n * v)
                .map(|i| 1.0 - (1.0 - active[i % v]) * rd(gf[i]))
                .collect();
            let mut want_theta = vec![0.0; n * c * v];
            let mut want_gm = vec![0.0; n * c * v];
            for b in 0..n {
                for ch in 0..c {
                    for s in 0..v {
                        let o_m = rd(o_minus[at(b, perm[ch] as usize, s)]);
                        want_theta[at(b, ch, s)] =
                            0.5 * (rd(o_plus[at(b, ch, s)]) + sign[ch] * o_m);
                        want_gm[at(b, perm[ch] as usize, s)] = 0.5 * sign[ch] * g[at(b, ch, s)];
                    }
                }
            }
            let want_gp: Vec<f64> = g.iter().map(|x| 0.5 * x).collect();
            let plain: Vec<f64> = o_plus.iter().map(|&x| rd(x)).collect();
            assert_close(
                &format!("{backend:?} {float:?} f"),
                &table.get(f),
                &want_f,
                backend.tol(tol),
            );
            assert_close(
                &format!("{backend:?} {float:?} gx"),
                &table.get(gx),
                &want_gx,
                backend.tol(tol),
            );
            assert_close(
                &format!("{backend:?} {float:?} θ"),
                &table.get(theta),
                &want_theta,
                backend.tol(tol),
            );
            assert_close(
                &format!("{backend:?} {float:?} θ plain"),
                &table.get(theta_plain),
                &plain,
                backend.tol(tol),
            );
            assert_close(
                &format!("{backend:?} {float:?} g+"),
                &table.get(gp),
                &want_gp,
                backend.tol(tol),
            );
            assert_close(
                &format!("{backend:?} {float:?} g-"),
                &table.get(gm),
                &want_gm,
                backend.tol(tol),
            );
        }
    }
}

/// The reverse-KL summary, the gradient norm, Adam and the Philox draws.
#[test]
fn reductions_adam_and_draws_match_the_host() {
    let mut r = rng(70);
    let n = 300;
    let logq = normals(&mut r, n, 3.0);
    let action: Vec<f64> = normals(&mut r, n, 2.0).iter().map(|s| s + 700.0).collect();
    let count = 1000;
    let params = normals(&mut r, count, 1.0);
    let grads: Vec<Vec<f64>> = (0..3).map(|_| normals(&mut r, count, 1.0)).collect();
    let mut table = HostTable::default();
    let (lq, sb, out) = (table.f64(&logq), table.f64(&action), table.zeros(4));
    let (pb, m, vv, norm) = (
        table.f64(&params),
        table.zeros(count),
        table.zeros(count),
        table.zeros(1),
    );
    let gbs: Vec<_> = grads.iter().map(|g| table.f64(g)).collect();
    let draws = table.zeros(1001);
    let logr = table.zeros(7);
    let key = PhiloxKey::from_seed(0x1234_5678_9abc);
    let mut calls = vec![
        reduce::kl_summary(n, lq, sb, out).unwrap(),
        reduce::sum_squares(count, gbs[0], norm).unwrap(),
        random::normal_fill(1001, draws, key, 3).unwrap(),
        random::normal_log_density(7, 143, draws, logr).unwrap(),
    ];
    for (t, g) in gbs.iter().enumerate() {
        let step = reduce::AdamStep {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: t as u64 + 1,
            scale: 0.5,
        };
        calls.push(reduce::adam_step(count, pb, *g, m, vv, step).unwrap());
    }
    let results = run_all("reductions", &table, &calls);
    // The summary, from its definitions (the weights are e^{−700}: only the max shift keeps
    // them finite).
    let lw: Vec<f64> = logq.iter().zip(&action).map(|(q, s)| -s - q).collect();
    let max = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s1: f64 = lw.iter().map(|l| (l - max).exp()).sum();
    let s2: f64 = lw.iter().map(|l| (2.0 * (l - max)).exp()).sum();
    let loss = logq.iter().zip(&action).map(|(q, s)| q + s).sum::<f64>() / n as f64;
    let want = [loss, max + s1.ln(), s1 * s1 / (n as f64 * s2), max];
    for (backend, table) in &results {
        assert_close(
            &format!("{backend:?} kl summary"),
            &table.get(out),
            &want,
            backend.tol(1e-12),
        );
        let norm2: f64 = grads[0].iter().map(|g| g * g).sum();
        assert_close(
            &format!("{backend:?} Σ g²"),
            &table.get(norm),
            &[norm2],
            backend.tol(1e-12),
        );
        let mut cpu = params.clone();
        let mut adam = Adam::new(count);
        for g in &grads {
            let scaled: Vec<f64> = g.iter().map(|x| 0.5 * x).collect();
            adam.step(&mut cpu, &scaled, 0.01);
        }
        assert_close(
            &format!("{backend:?} Adam"),
            &table.get(pb),
            &cpu,
            backend.tol(1e-13),
        );
        let mut host = vec![0.0; 1001];
        normal_fill(&mut host, key, 3);
        assert_close(
            &format!("{backend:?} Philox normals"),
            &table.get(draws),
            &host,
            backend.tol(1e-14),
        );
        let want_logr: Vec<f64> = (0..7)
            .map(|b| {
                let z = &host[b * 143..][..143];
                -0.5 * z.iter().map(|x| x * x).sum::<f64>()
                    - 71.5 * (2.0 * std::f64::consts::PI).ln()
            })
            .collect();
        assert_close(
            &format!("{backend:?} log r"),
            &table.get(logr),
            &want_logr,
            backend.tol(1e-12),
        );
    }
}
