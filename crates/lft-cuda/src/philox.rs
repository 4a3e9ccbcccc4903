//! Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
//! SC'11), the counter-based generator of the device kernels, computed on the host: the same
//! seed and counter give the same numbers on the CPU and the GPU (`kernels/common.cuh`), so a
//! device run is reproducible from its seed and its draws can be checked here.
//!
//! One round, with multipliers M₀ = 0xD2511F53, M₁ = 0xCD9E8D57 and key (k₀, k₁):
//!   (c₀, c₁, c₂, c₃) ← (hi(M₁c₂) ⊕ c₁ ⊕ k₀, lo(M₁c₂), hi(M₀c₀) ⊕ c₃ ⊕ k₁, lo(M₀c₀)),
//! the key bumped by the Weyl constants (0x9E3779B9, 0xBB67AE85) between rounds; ten rounds.

/// A Philox key: the run's seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhiloxKey(pub [u32; 2]);

impl PhiloxKey {
    /// The key of a 64-bit seed (low word first).
    pub fn from_seed(seed: u64) -> Self {
        Self([seed as u32, (seed >> 32) as u32])
    }
}

/// The 128 random bits of counter `ctr` under `key`.
pub fn philox4x32_10(ctr: [u32; 4], key: PhiloxKey) -> [u32; 4] {
    const M0: u32 = 0xD251_1F53;
    const M1: u32 = 0xCD9E_8D57;
    let [mut c0, mut c1, mut c2, mut c3] = ctr;
    let [mut k0, mut k1] = key.0;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(0x9E37_79B9);
            k1 = k1.wrapping_add(0xBB67_AE85);
        }
        let p0 = u64::from(M0) * u64::from(c0);
        let p1 = u64::from(M1) * u64::from(c2);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
    }
    [c0, c1, c2, c3]
}

/// A uniform double in [0, 1) from the top 53 of the 64 bits (hi, lo).
pub fn uniform53(hi: u32, lo: u32) -> f64 {
    let bits = ((u64::from(hi) << 32) | u64::from(lo)) >> 11;
    bits as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// Two standard normals from one block by Box–Muller: r = √(−2 ln(1 − u₁)),
/// z = (r cos 2πu₂, r sin 2πu₂) with u₁ = bits 0–1 and u₂ = bits 2–3 of the block.
pub fn normal_pair(block: [u32; 4]) -> (f64, f64) {
    let u1 = uniform53(block[0], block[1]);
    let u2 = uniform53(block[2], block[3]);
    let r = (-2.0 * (1.0 - u1).ln()).sqrt();
    let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

/// What the device's `normal_fill` writes: `out[2i]`, `out[2i + 1]` from the block at counter
/// (i mod 2³², i div 2³², stream₀, stream₁). A stream is one use (a trajectory's momenta, one
/// training step's prior draws), so every use of a run draws fresh numbers.
pub fn normal_fill(out: &mut [f64], key: PhiloxKey, stream: u64) {
    let (s0, s1) = (stream as u32, (stream >> 32) as u32);
    for (i, pair) in out.chunks_mut(2).enumerate() {
        let i = i as u64;
        let (z0, z1) = normal_pair(philox4x32_10([i as u32, (i >> 32) as u32, s0, s1], key));
        pair[0] = z0;
        if let Some(z) = pair.get_mut(1) {
            *z = z1;
        }
    }
}

/// The Philox stream of one HMC chain (or annealing particle) on the device: its key is
/// hashed from the run's seed and the chain's global index, so every chain of every task
/// draws its own numbers, and within the stream the counter (j, purpose, t) names draw j of
/// trajectory t (`kernels/common.cuh`: purposes 0 momenta, 1 the Metropolis uniform; 2 the
/// trajectory length and 3 a hot start, both drawn here on the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainStream {
    pub key: PhiloxKey,
}

/// Counter words of the purposes of a [`ChainStream`].
const MOMENTA: u32 = 0;
const ACCEPT: u32 = 1;
const LENGTH: u32 = 2;
const START: u32 = 3;

impl ChainStream {
    /// Chain `index` of the run with seed `seed`: key = the first two words of Philox at
    /// counter (index lo, index hi, "LFT", "HMC") under the seed's key.
    pub fn new(seed: u64, index: u64) -> Self {
        let b = philox4x32_10(
            [index as u32, (index >> 32) as u32, 0x004c_4654, 0x0048_4d43],
            PhiloxKey::from_seed(seed),
        );
        Self {
            key: PhiloxKey([b[0], b[1]]),
        }
    }

    fn block(&self, j: u32, purpose: u32, t: u64) -> [u32; 4] {
        philox4x32_10([j, purpose, t as u32, (t >> 32) as u32], self.key)
    }

    fn normals(&self, purpose: u32, t: u64, out: &mut [f64]) {
        for (p, pair) in out.chunks_mut(2).enumerate() {
            let (z0, z1) = normal_pair(self.block(p as u32, purpose, t));
            pair[0] = z0;
            if let Some(z) = pair.get_mut(1) {
                *z = z1;
            }
        }
    }

    /// The momenta of trajectory `t` (the device's `hmc_refresh`): sites 2p and 2p + 1 from
    /// the block at counter (p, 0, t).
    pub fn momenta(&self, t: u64, out: &mut [f64]) {
        self.normals(MOMENTA, t, out)
    }

    /// The uniform of trajectory `t`'s Metropolis test (the device's `hmc_accept`).
    pub fn accept_uniform(&self, t: u64) -> f64 {
        let b = self.block(0, ACCEPT, t);
        uniform53(b[0], b[1])
    }

    /// The uniform that draws trajectory `t`'s length (lft-sample's `jittered_steps`).
    pub fn length_uniform(&self, t: u64) -> f64 {
        let b = self.block(0, LENGTH, t);
        uniform53(b[0], b[1])
    }

    /// A hot start: independent standard normals.
    pub fn hot_start(&self, out: &mut [f64]) {
        self.normals(START, 0, out)
    }
}
