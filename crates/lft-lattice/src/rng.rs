//! Reproducible random-number streams: one `Pcg64` per (seed, stream index), uniform and
//! Gaussian variates, and an exact save/restore of the generator state.

use rand_core::Rng;
use rand_distr::{Distribution, StandardNormal};
pub use rand_pcg::Pcg64;

/// SplitMix64 finaliser: a bijective 64-bit mixing function.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of stream `stream` under the run seed `seed`.
///
/// State and increment are both hashed from (seed, stream), so distinct streams differ in state
/// and in PCG stream constant; the same pair always gives the same generator.
pub fn stream_rng(seed: u64, stream: u64) -> Pcg64 {
    let a = splitmix64(seed ^ splitmix64(stream));
    let b = splitmix64(a ^ 0x5851_F42D_4C95_7F2D);
    let c = splitmix64(b ^ stream.rotate_left(17));
    let d = splitmix64(c);
    let state = (u128::from(a) << 64) | u128::from(b);
    let inc = (u128::from(c) << 64) | u128::from(d);
    Pcg64::new(state, inc)
}

/// 64 random bits (the seed of a sub-computation drawn from a chain's generator).
#[inline]
pub fn draw_u64(rng: &mut Pcg64) -> u64 {
    rng.next_u64()
}

/// A uniform variate in [0, 1) with 53 random bits.
#[inline]
pub fn uniform(rng: &mut Pcg64) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Fills `out` with independent standard normal variates (Ziggurat method, rand_distr).
pub fn gaussian_fill(rng: &mut Pcg64, out: &mut [f64]) {
    for x in out.iter_mut() {
        *x = StandardNormal.sample(rng);
    }
}

/// The complete state of a `Pcg64`: restoring it continues the stream bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RngState {
    pub state: u128,
    pub stream: u128,
}

impl RngState {
    /// Captures the generator's state.
    pub fn of(rng: &Pcg64) -> Self {
        Self {
            state: rng.state(),
            stream: rng.stream(),
        }
    }

    /// A generator in exactly this state.
    pub fn restore(&self) -> Pcg64 {
        Pcg64::from_state(self.state, self.stream)
    }

    /// Four little-endian 64-bit words: state low, state high, stream low, stream high.
    pub fn to_words(&self) -> [u64; 4] {
        [
            self.state as u64,
            (self.state >> 64) as u64,
            self.stream as u64,
            (self.stream >> 64) as u64,
        ]
    }

    /// Inverse of [`RngState::to_words`].
    pub fn from_words(w: [u64; 4]) -> Self {
        Self {
            state: u128::from(w[0]) | (u128::from(w[1]) << 64),
            stream: u128::from(w[2]) | (u128::from(w[3]) << 64),
        }
    }

    /// The state of a counter-based stream (the GPU's Philox streams, lft-cuda): position
    /// `counter` of the stream of chain `index`. Stored in the same two words as a `Pcg64`'s,
    /// tagged so that the two are never taken for each other: the stream word's high half is
    /// [`COUNTER_TAG`], whose top bit a PCG stream never has (its stream is the odd increment
    /// shifted right by one, so at most 127 bits).
    pub fn counter(index: u64, counter: u64) -> Self {
        Self {
            state: u128::from(counter),
            stream: (u128::from(COUNTER_TAG) << 64) | u128::from(index),
        }
    }

    /// (chain index, counter) of a [`RngState::counter`] state; `None` for a `Pcg64`'s.
    pub fn as_counter(&self) -> Option<(u64, u64)> {
        let tagged = (self.stream >> 64) as u64 == COUNTER_TAG;
        (tagged && self.state >> 64 == 0).then_some((self.stream as u64, self.state as u64))
    }
}

/// The high word of a counter-based stream's [`RngState`]: "lft-ctr" in ASCII with the top bit
/// set, which no PCG stream has.
pub const COUNTER_TAG: u64 = 0xec66_742d_6374_7200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_restore_continues_the_stream() {
        let mut a = stream_rng(42, 3);
        for _ in 0..17 {
            a.next_u64();
        }
        let saved = RngState::from_words(RngState::of(&a).to_words());
        let mut b = saved.restore();
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn counter_states_round_trip_and_are_never_pcg_states() {
        for (index, counter) in [(0, 0), (7, 123), (u64::MAX, u64::MAX)] {
            let s = RngState::from_words(RngState::counter(index, counter).to_words());
            assert_eq!(s.as_counter(), Some((index, counter)));
        }
        for stream in 0..64 {
            let pcg = RngState::of(&stream_rng(9, stream));
            assert_eq!(pcg.as_counter(), None);
            assert_eq!(pcg.stream >> 127, 0, "a PCG stream has 127 bits");
        }
    }

    #[test]
    fn streams_differ() {
        let mut a = stream_rng(1, 0);
        let mut b = stream_rng(1, 1);
        let mut c = stream_rng(2, 0);
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert!(x != y && x != z && y != z);
    }

    #[test]
    fn gaussian_moments_within_errors() {
        let mut rng = stream_rng(7, 0);
        let n = 200_000;
        let mut v = vec![0.0; n];
        gaussian_fill(&mut rng, &mut v);
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let m4 = v.iter().map(|x| x.powi(4)).sum::<f64>() / n as f64;
        // Standard errors of the mean (1/√n), variance (√(2/n)) and fourth moment (√(96/n)).
        let nf = n as f64;
        assert!(mean.abs() < 4.0 / nf.sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 4.0 * (2.0 / nf).sqrt(), "var {var}");
        assert!((m4 - 3.0).abs() < 4.0 * (96.0 / nf).sqrt(), "m4 {m4}");
    }

    #[test]
    fn uniform_in_unit_interval_with_right_mean() {
        let mut rng = stream_rng(9, 9);
        let n = 100_000;
        let mut s = 0.0;
        for _ in 0..n {
            let u = uniform(&mut rng);
            assert!((0.0..1.0).contains(&u));
            s += u;
        }
        let mean = s / n as f64;
        assert!((mean - 0.5).abs() < 4.0 * (1.0 / 12.0 / n as f64).sqrt());
    }
}
