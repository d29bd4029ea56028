//! Continuous batching: sequences in flight decode together, one forward pass per step over all of
//! them (Llama::decode_step), each with its own cache, position, settings and random stream. A new
//! sequence joins with its prompt's prefill, one pass of at most `prefill_chunk` positions per step
//! (alone, so the same passes it would make by itself), and decodes from the step its prompt is done;
//! one that finishes, or is removed, leaves at once.
//!
//! A sequence's tokens do not depend on its neighbours: the prefill is its own, the decode step is
//! batch-invariant on the CPU (model/decode.rs), and sampling uses only its own settings and seed.

use std::sync::Arc;

use rayon::prelude::*;

use super::generator::{Chosen, Sequence};
use crate::error::Result;
use crate::model::Llama;

/// A token for one sequence in one step; `finished` when it was the last (EOS or max_new_tokens).
#[derive(Clone, Debug)]
pub struct StepToken {
    pub sequence: u64,
    pub chosen: Chosen,
    pub finished: bool,
}

pub struct DecodeBatch {
    model: Arc<Llama>,
    /// Groups that joined since the last step: sequences with one prompt (OpenAI's n choices) that
    /// share one prefill.
    joining: Vec<Vec<(u64, Sequence)>>,
    decoding: Vec<(u64, Sequence)>,
}

impl DecodeBatch {
    pub fn new(model: Arc<Llama>) -> Self {
        DecodeBatch { model, joining: Vec::new(), decoding: Vec::new() }
    }

    pub fn model(&self) -> &Arc<Llama> {
        &self.model
    }

    /// Adds one prompt's choices, `ids` naming them; they start at the next step and share one
    /// prefill. Choice i after the first samples with the first's seed plus i, so that choice 0 is
    /// what a single choice would give.
    pub fn join(&mut self, ids: &[u64], first: Sequence) {
        let seed = first.seed();
        let siblings: Vec<_> = ids.iter().enumerate().skip(1).map(|(i, &id)| (id, first.sibling(seed.wrapping_add(i as u64)))).collect();
        let mut group = vec![(ids[0], first)];
        group.extend(siblings);
        self.joining.push(group);
    }

    /// Drops a sequence (a client that left): its cache is freed now.
    pub fn remove(&mut self, id: u64) {
        self.decoding.retain(|(sequence, _)| *sequence != id);
        for group in &mut self.joining {
            group.retain(|(sequence, _)| *sequence != id);
        }
        self.joining.retain(|group| !group.is_empty());
    }

    /// Sequences joining or decoding.
    pub fn len(&self) -> usize {
        self.decoding.len() + self.joining.iter().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One token for every sequence: the decoding ones in one pass, the joining ones after their prefill.
    pub fn step(&mut self) -> Result<Vec<StepToken>> {
        let model = self.model.clone();
        let mut tokens = Vec::with_capacity(self.len());
        if !self.decoding.is_empty() {
            let last: Vec<u32> = self.decoding.iter().map(|(_, s)| s.last()).collect();
            let mut caches: Vec<_> = self.decoding.iter_mut().map(|(_, s)| &mut s.cache).collect();
            let logits = model.decode_step(&last, &mut caches)?;
            for (row, (id, sequence)) in self.decoding.iter_mut().enumerate() {
                let chosen = sequence.choose(&model, &logits.get(row)?)?;
                tokens.push(StepToken { sequence: *id, chosen, finished: sequence.is_done() });
            }
        }
        // One prefill pass for each joining prompt, side by side on the CPU's cores; in order on a GPU,
        // whose kernels queue on one stream anyway.
        let pass = |mut group: Vec<(u64, Sequence)>| {
            let logits = group[0].1.prefill_pass(&model)?;
            if logits.is_some() {
                for i in 1..group.len() {
                    group[i].1.cache = group[0].1.cache.deep_copy()?;
                }
            }
            Ok((group, logits))
        };
        let joining = std::mem::take(&mut self.joining);
        let passed = if model.device().is_cpu() {
            joining.into_par_iter().map(pass).collect::<Result<Vec<_>>>()?
        } else {
            joining.into_iter().map(pass).collect::<Result<Vec<_>>>()?
        };
        for (mut group, logits) in passed {
            let Some(logits) = logits else {
                self.joining.push(group); // more of its prompt next step
                continue;
            };
            for (id, sequence) in group.iter_mut() {
                let chosen = sequence.choose(&model, &logits)?;
                tokens.push(StepToken { sequence: *id, chosen, finished: sequence.is_done() });
            }
            self.decoding.extend(group);
        }
        self.decoding.retain(|(_, sequence)| !sequence.is_done());
        Ok(tokens)
    }
}
