//! A weighted mixture of prepared datasets: which source each training window comes from, and where
//! each source stands in its own shuffled order.
//!
//! The choice is smooth weighted round-robin (nginx's): every draw adds each source's weight to its
//! credit and takes the source with the most credit, which then pays 1. After n draws every source has
//! been chosen within one window of weight x n times, so the token shares equal the weights at every
//! step, not only on average; the seed sets the starting credits, so it decides the order. Each source
//! visits its train windows in its own keyed shuffle (`WindowSampler`), epoch after epoch. The whole
//! state is the credits and one (epoch, position) per source: it goes into state.json, and a resumed
//! run draws exactly what the uninterrupted one would have.

use serde::{Deserialize, Serialize};

use super::sampler::{SamplerState, WindowSampler};
use crate::util::{stable_hash, SplitMix64};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExhausted {
    /// Start the source's next epoch (in a new shuffle), with a warning.
    Repeat,
    /// End the run before the step that would need a window the source no longer has.
    Stop,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixtureSource {
    pub name: String,
    /// A prepared dataset (train/ and val/).
    pub path: std::path::PathBuf,
    pub weight: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixtureOptions {
    pub sources: Vec<MixtureSource>,
    pub on_exhausted: OnExhausted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixtureState {
    pub credits: Vec<f64>,
    pub sources: Vec<SamplerState>,
}

/// A draw: the source and its window, and whether it began a new epoch of that source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    pub source: usize,
    pub window: u64,
    /// The epoch (from 0) this draw began, when it began one after the first.
    pub new_epoch: Option<u64>,
}

#[derive(Clone)]
pub struct MixtureSampler {
    /// Normalised to sum to 1.
    weights: Vec<f64>,
    credits: Vec<f64>,
    samplers: Vec<WindowSampler>,
    windows: Vec<u64>,
}

impl MixtureSampler {
    /// `windows[i]` is source i's number of train windows; each source's shuffle is keyed by the seed
    /// and its name, so adding a source does not reorder the others.
    pub fn new(options: &MixtureOptions, windows: &[u64], seed: u64) -> Self {
        let total: f64 = options.sources.iter().map(|s| s.weight).sum();
        let weights: Vec<f64> = options.sources.iter().map(|s| s.weight / total).collect();
        let mut rng = SplitMix64::new(seed ^ 0x6d69_7874_7572_6573); // "mixtures"
        let credits = weights.iter().map(|w| w * rng.next_f64()).collect();
        let samplers =
            options.sources.iter().zip(windows).map(|(s, &n)| WindowSampler::new(n, seed ^ stable_hash(s.name.as_bytes()))).collect();
        MixtureSampler { weights, credits, samplers, windows: windows.to_vec() }
    }

    pub fn draw(&mut self) -> Draw {
        for (credit, weight) in self.credits.iter_mut().zip(&self.weights) {
            *credit += weight;
        }
        let source = (0..self.credits.len()).fold(0, |best, i| if self.credits[i] > self.credits[best] { i } else { best });
        self.credits[source] -= 1.0;
        let sampler = &mut self.samplers[source];
        let new_epoch = (sampler.state.position == self.windows[source]).then_some(sampler.state.epoch + 1);
        Draw { source, window: sampler.next_window(), new_epoch }
    }

    /// The first source that would start a second pass over its windows within the next `draws`
    /// draws (checked on a copy: nothing moves).
    pub fn would_exhaust(&self, draws: usize) -> Option<usize> {
        let mut ahead = self.clone();
        (0..draws).map(|_| ahead.draw()).find(|d| d.new_epoch.is_some()).map(|d| d.source)
    }

    pub fn state(&self) -> MixtureState {
        MixtureState { credits: self.credits.clone(), sources: self.samplers.iter().map(|s| s.state).collect() }
    }

    pub fn set_state(&mut self, state: &MixtureState) {
        self.credits = state.credits.clone();
        for (sampler, saved) in self.samplers.iter_mut().zip(&state.sources) {
            sampler.state = *saved;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(weights: &[f64]) -> MixtureOptions {
        MixtureOptions {
            sources: weights
                .iter()
                .enumerate()
                .map(|(i, &weight)| MixtureSource { name: format!("s{i}"), path: "x".into(), weight })
                .collect(),
            on_exhausted: OnExhausted::Repeat,
        }
    }

    #[test]
    fn shares_follow_the_weights_at_every_step() {
        let mut sampler = MixtureSampler::new(&options(&[0.7, 0.2, 0.1]), &[1000, 1000, 1000], 42);
        let mut counts = [0u64; 3];
        for n in 1..=5000u64 {
            counts[sampler.draw().source] += 1;
            for (count, weight) in counts.iter().zip([0.7, 0.2, 0.1]) {
                assert!((*count as f64 - weight * n as f64).abs() <= 1.0, "after {n} draws: {counts:?}");
            }
        }
    }

    #[test]
    fn each_source_visits_every_window_once_per_epoch_and_the_state_resumes() {
        let mut sampler = MixtureSampler::new(&options(&[0.5, 0.5]), &[7, 100], 1);
        let mut seen: Vec<u64> = Vec::new();
        let mut epochs = Vec::new();
        for _ in 0..28 {
            let draw = sampler.draw();
            if draw.source == 0 {
                seen.push(draw.window);
            }
            if let Some(epoch) = draw.new_epoch {
                epochs.push((draw.source, epoch));
            }
        }
        let mut first: Vec<u64> = seen[..7].to_vec();
        first.sort();
        assert_eq!(first, (0..7).collect::<Vec<_>>());
        assert_eq!(epochs, [(0, 1)], "source 0 began its second epoch once");
        assert_eq!(sampler.would_exhaust(10), Some(0));

        let saved = sampler.state();
        let later: Vec<Draw> = (0..50).map(|_| sampler.draw()).collect();
        let mut resumed = MixtureSampler::new(&options(&[0.5, 0.5]), &[7, 100], 1);
        resumed.set_state(&saved);
        assert_eq!((0..50).map(|_| resumed.draw()).collect::<Vec<_>>(), later);
    }
}
