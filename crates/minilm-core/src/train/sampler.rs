//! The order in which training windows are visited: every window once per epoch, in an order shuffled
//! from the seed and the epoch. The shuffle is a keyed bijection on window numbers (a Feistel network
//! with cycle walking), so the position in the data is two integers and no permutation table is held
//! in memory, however many windows there are.

use serde::{Deserialize, Serialize};

use crate::util::SplitMix64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    pub epoch: u64,
    /// Windows already taken in this epoch.
    pub position: u64,
}

#[derive(Clone)]
pub struct WindowSampler {
    windows: u64,
    seed: u64,
    pub state: SamplerState,
}

impl WindowSampler {
    pub fn new(windows: u64, seed: u64) -> Self {
        WindowSampler { windows, seed, state: SamplerState { epoch: 0, position: 0 } }
    }

    /// The next window number, moving on to a newly shuffled epoch after the last one.
    pub fn next_window(&mut self) -> u64 {
        if self.state.position == self.windows {
            self.state = SamplerState { epoch: self.state.epoch + 1, position: 0 };
        }
        let window = permute(self.state.position, self.windows, self.seed, self.state.epoch);
        self.state.position += 1;
        window
    }
}

const ROUNDS: u32 = 4;

/// The image of `index` under the (seed, epoch) permutation of 0..n.
pub fn permute(index: u64, n: u64, seed: u64, epoch: u64) -> u64 {
    debug_assert!(index < n);
    // A Feistel network permutes 0..2^(2h) for the smallest h that covers n; values that land at or
    // beyond n are permuted again until they fall inside (cycle walking keeps it a bijection on 0..n).
    let bits = 64 - (n.max(2) - 1).leading_zeros();
    let half = bits.div_ceil(2);
    let mask = (1u64 << half) - 1;
    let key = SplitMix64::new(seed).next_u64() ^ SplitMix64::new(epoch.wrapping_add(0x5eed)).next_u64();
    let mut x = index;
    loop {
        let (mut left, mut right) = (x >> half, x & mask);
        for round in 0..ROUNDS {
            let f = SplitMix64::new(key ^ ((round as u64) << 56) ^ right).next_u64() & mask;
            (left, right) = (right, left ^ f);
        }
        x = (left << half) | right;
        if x < n {
            return x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_is_a_bijection_for_awkward_sizes() {
        for n in [1u64, 2, 3, 7, 64, 100, 1000, 4097] {
            let mut seen: Vec<u64> = (0..n).map(|i| permute(i, n, 42, 3)).collect();
            seen.sort();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[test]
    fn epochs_differ_and_repeat_from_the_seed() {
        let order = |seed, epoch| (0..50).map(|i| permute(i, 50, seed, epoch)).collect::<Vec<_>>();
        assert_ne!(order(42, 0), order(42, 1));
        assert_ne!(order(42, 0), order(43, 0));
        assert_eq!(order(42, 5), order(42, 5));
        assert_ne!(order(42, 0), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn sampler_visits_every_window_each_epoch() {
        let mut sampler = WindowSampler::new(10, 1);
        let mut first: Vec<u64> = (0..10).map(|_| sampler.next_window()).collect();
        let mut second: Vec<u64> = (0..10).map(|_| sampler.next_window()).collect();
        assert_eq!(sampler.state, SamplerState { epoch: 1, position: 10 });
        first.sort();
        second.sort();
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        assert_eq!(second, first);
    }
}
