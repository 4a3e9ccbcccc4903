//! Small dense matrix products for the convolutions, register-blocked, with the widest vector
//! instructions the CPU has chosen at run time (AVX-512, or AVX2 with FMA, else the portable
//! baseline), so a portable build runs as fast as a `target-cpu=native` one.
//!
//! All matrices are row-major and contiguous.
//!   [`gemm_acc`]:    C[m, n] += Σ_k A[m, k] B[k, n]   (C: M×N, A: M×K, B: K×N)
//!   [`gemm_nt_acc`]: C[m, k] += Σ_n A[m, n] B[k, n]   (C: M×K, A: M×N, B: K×N)
//! The summation order is fixed by the shapes, so results are reproducible on one machine; the
//! fused multiply-add of the AVX paths rounds once per term instead of twice.

/// Columns handled together by one register block.
pub const LANES: usize = 8;

#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// Rows r0..r0+R of C += A B over the columns x0..x0+LANES, accumulators in registers.
#[inline(always)]
fn nn_block<const R: usize, const FMA: bool>(
    k: usize,
    n: usize,
    a: &[f64],
    b: &[f64],
    c: &mut [f64],
    r0: usize,
    x0: usize,
) {
    let mut acc = [[0.0; LANES]; R];
    for (r, row) in acc.iter_mut().enumerate() {
        row.copy_from_slice(&c[(r0 + r) * n + x0..][..LANES]);
    }
    for j in 0..k {
        let bj: &[f64; LANES] = b[j * n + x0..][..LANES].try_into().unwrap();
        for (r, row) in acc.iter_mut().enumerate() {
            let w = a[(r0 + r) * k + j];
            for l in 0..LANES {
                row[l] = madd::<FMA>(w, bj[l], row[l]);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        c[(r0 + r) * n + x0..][..LANES].copy_from_slice(row);
    }
}

/// `WIDE`: 32 vector registers (AVX-512), so blocks of 8 rows and 8-lane accumulators fit.
#[inline(always)]
fn nn_body<const FMA: bool, const WIDE: bool>(
    m: usize,
    k: usize,
    n: usize,
    a: &[f64],
    b: &[f64],
    c: &mut [f64],
) {
    let full = n - n % LANES;
    for x0 in (0..full).step_by(LANES) {
        let mut r0 = 0;
        while WIDE && r0 + 8 <= m {
            nn_block::<8, FMA>(k, n, a, b, c, r0, x0);
            r0 += 8;
        }
        while r0 + 4 <= m {
            nn_block::<4, FMA>(k, n, a, b, c, r0, x0);
            r0 += 4;
        }
        while r0 + 2 <= m {
            nn_block::<2, FMA>(k, n, a, b, c, r0, x0);
            r0 += 2;
        }
        if r0 < m {
            nn_block::<1, FMA>(k, n, a, b, c, r0, x0);
        }
    }
    for r in 0..m {
        for x in full..n {
            let mut s = c[r * n + x];
            for j in 0..k {
                s = madd::<FMA>(a[r * k + j], b[j * n + x], s);
            }
            c[r * n + x] = s;
        }
    }
}

/// C[r0.., k0..] += A[r0..] B[k0..]ᵀ for R rows of A and Q rows of B, over full lane chunks.
#[inline(always)]
fn nt_block<const R: usize, const Q: usize, const L: usize, const FMA: bool>(
    k: usize,
    n: usize,
    a: &[f64],
    b: &[f64],
    c: &mut [f64],
    r0: usize,
    k0: usize,
) {
    let mut acc = [[[0.0; L]; Q]; R];
    let full = n - n % L;
    for x0 in (0..full).step_by(L) {
        let bs: [&[f64; L]; Q] =
            std::array::from_fn(|q| b[(k0 + q) * n + x0..][..L].try_into().unwrap());
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let ar: &[f64; L] = a[(r0 + r) * n + x0..][..L].try_into().unwrap();
            for (q, acc_rq) in acc_r.iter_mut().enumerate() {
                for l in 0..L {
                    acc_rq[l] = madd::<FMA>(ar[l], bs[q][l], acc_rq[l]);
                }
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        for (q, acc_rq) in acc_r.iter().enumerate() {
            let mut s = acc_rq.iter().sum::<f64>();
            for x in full..n {
                s = madd::<FMA>(a[(r0 + r) * n + x], b[(k0 + q) * n + x], s);
            }
            c[(r0 + r) * k + k0 + q] += s;
        }
    }
}

#[inline(always)]
fn nt_rows<const R: usize, const L: usize, const FMA: bool>(
    k: usize,
    n: usize,
    a: &[f64],
    b: &[f64],
    c: &mut [f64],
    r0: usize,
) {
    let mut k0 = 0;
    while k0 + 2 <= k {
        nt_block::<R, 2, L, FMA>(k, n, a, b, c, r0, k0);
        k0 += 2;
    }
    if k0 < k {
        nt_block::<R, 1, L, FMA>(k, n, a, b, c, r0, k0);
    }
}

/// Blocks of 4 × 2 dot products with 4-lane accumulators (8 registers on any AVX level).
#[inline(always)]
fn nt_body<const FMA: bool>(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
    let mut r0 = 0;
    while r0 + 4 <= m {
        nt_rows::<4, 4, FMA>(k, n, a, b, c, r0);
        r0 += 4;
    }
    while r0 < m {
        nt_rows::<1, 4, FMA>(k, n, a, b, c, r0);
        r0 += 1;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub fn nn_avx512(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
        super::nn_body::<true, true>(m, k, n, a, b, c)
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn nn_avx2(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
        super::nn_body::<true, false>(m, k, n, a, b, c)
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub fn nt_avx512(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
        super::nt_body::<true>(m, k, n, a, b, c)
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn nt_avx2(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
        super::nt_body::<true>(m, k, n, a, b, c)
    }

    /// 2: AVX-512, 1: AVX2 + FMA, 0: neither.
    pub fn level() -> u8 {
        use std::sync::OnceLock;
        static LEVEL: OnceLock<u8> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            let fma = std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("avx2");
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                2
            } else {
                u8::from(fma)
            }
        })
    }
}

fn check(m: usize, k: usize, n: usize, a: usize, b: usize, c: usize) {
    assert!(
        a >= m * k && b >= k * n && c >= m * n,
        "gemm: slices too short"
    );
}

/// C[m, n] += Σ_k A[m, k] B[k, n]; C is M×N, A is M×K, B is K×N.
pub fn gemm_acc(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
    check(m, k, n, a.len(), b.len(), c.len());
    #[cfg(target_arch = "x86_64")]
    match x86::level() {
        // SAFETY: the CPU has the features these functions are compiled for.
        2 => return unsafe { x86::nn_avx512(m, k, n, a, b, c) },
        1 => return unsafe { x86::nn_avx2(m, k, n, a, b, c) },
        _ => {}
    }
    nn_body::<false, false>(m, k, n, a, b, c)
}

/// C[m, k] += Σ_n A[m, n] B[k, n]; C is M×K, A is M×N, B is K×N.
pub fn gemm_nt_acc(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
    check(m, n, k, a.len(), b.len(), c.len());
    #[cfg(target_arch = "x86_64")]
    match x86::level() {
        // SAFETY: the CPU has the features these functions are compiled for.
        2 => return unsafe { x86::nt_avx512(m, k, n, a, b, c) },
        1 => return unsafe { x86::nt_avx2(m, k, n, a, b, c) },
        _ => {}
    }
    nt_body::<false>(m, k, n, a, b, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// Both products against the naive triple loop, for shapes that hit every block size and
    /// remainder.
    #[test]
    fn products_match_the_naive_loops() {
        for (m, k, n) in [(1, 1, 1), (8, 72, 64), (3, 5, 13), (7, 9, 17), (2, 18, 36)] {
            let (a, b) = (filled(m * k, 1), filled(k * n, 2));
            let mut c = filled(m * n, 3);
            let mut want = c.clone();
            for r in 0..m {
                for x in 0..n {
                    want[r * n + x] += (0..k).map(|j| a[r * k + j] * b[j * n + x]).sum::<f64>();
                }
            }
            gemm_acc(m, k, n, &a, &b, &mut c);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-13, "nn {m}x{k}x{n}: {x} vs {y}");
            }

            let (a, b) = (filled(m * n, 4), filled(k * n, 5));
            let mut c = filled(m * k, 6);
            let mut want = c.clone();
            for r in 0..m {
                for q in 0..k {
                    want[r * k + q] += (0..n).map(|x| a[r * n + x] * b[q * n + x]).sum::<f64>();
                }
            }
            gemm_nt_acc(m, k, n, &a, &b, &mut c);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-13, "nt {m}x{k}x{n}: {x} vs {y}");
            }
        }
    }
}
