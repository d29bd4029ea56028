//! The sums behind loss, perplexity and bits per byte, and the two ways text is scored: a token stream
//! cut into windows the way training reads it, and a continuation's log-likelihood after a context.

use candle_core::{Device, Tensor};

use crate::data::token_bytes::TokenBytes;
use crate::error::Result;
use crate::model::{Llama, TokenBatch};

/// Sums over scored target tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossTotals {
    /// Negative log-likelihood (nats) of every target, and how many there were.
    pub nll: f64,
    pub tokens: u64,
    /// The same over the targets that stand for text (special tokens left out, as nanochat does), and
    /// the UTF-8 bytes they stand for.
    pub text_nll: f64,
    pub bytes: u64,
}

impl LossTotals {
    /// Adds targets and their negative log-likelihoods.
    pub fn add(&mut self, targets: &[u32], nll: &[f32], bytes: &TokenBytes) {
        for (&target, &loss) in targets.iter().zip(nll) {
            self.nll += loss as f64;
            self.tokens += 1;
            let n = bytes.get(target);
            if n > 0 {
                self.text_nll += loss as f64;
                self.bytes += n as u64;
            }
        }
    }

    pub fn merge(&mut self, other: &LossTotals) {
        self.nll += other.nll;
        self.tokens += other.tokens;
        self.text_nll += other.text_nll;
        self.bytes += other.bytes;
    }

    /// Mean loss per target token (nats).
    pub fn loss(&self) -> Option<f64> {
        (self.tokens > 0).then(|| self.nll / self.tokens as f64)
    }

    pub fn perplexity(&self) -> Option<f64> {
        self.loss().map(f64::exp)
    }

    /// Bits per UTF-8 byte of the text the targets stand for.
    pub fn bits_per_byte(&self) -> Option<f64> {
        (self.bytes > 0).then(|| self.text_nll / (std::f64::consts::LN_2 * self.bytes as f64))
    }
}

/// Scores a token stream (documents joined as prepare writes them) in windows of block_size + 1 tokens
/// that step by block_size, so that every token after the first is predicted once, with as much context
/// as a window gives; a last, shorter window counts too. Tokens are pushed a piece at a time.
pub struct StreamScorer<'a> {
    model: &'a Llama,
    bytes: &'a TokenBytes,
    block: usize,
    rows: usize,
    /// Tokens not yet predicted, after the one token of context they start from.
    pending: Vec<u32>,
    pub totals: LossTotals,
}

impl<'a> StreamScorer<'a> {
    /// `rows`: windows per forward pass.
    pub fn new(model: &'a Llama, bytes: &'a TokenBytes, rows: usize) -> Self {
        StreamScorer { model, bytes, block: model.config.block_size, rows: rows.max(1), pending: Vec::new(), totals: LossTotals::default() }
    }

    /// Adds tokens to the stream, scoring every full batch of windows they complete.
    pub fn push(&mut self, tokens: &[u32]) -> Result<()> {
        self.pending.extend_from_slice(tokens);
        let batch_tokens = self.rows * self.block;
        while self.pending.len() > batch_tokens {
            self.score_windows(self.rows, self.block)?;
            self.pending.drain(..batch_tokens);
        }
        Ok(())
    }

    /// Scores what is left: full windows, then the last, shorter one. The stream then starts afresh.
    pub fn finish(&mut self) -> Result<LossTotals> {
        let full = (self.pending.len().saturating_sub(1)) / self.block;
        if full > 0 {
            self.score_windows(full, self.block)?;
            self.pending.drain(..full * self.block);
        }
        if self.pending.len() > 1 {
            self.score_windows(1, self.pending.len() - 1)?;
        }
        self.pending.clear();
        Ok(std::mem::take(&mut self.totals))
    }

    /// Scores `rows` windows of `t + 1` tokens from the start of `pending`, each starting where the last ended.
    fn score_windows(&mut self, rows: usize, t: usize) -> Result<()> {
        let mut inputs = Vec::with_capacity(rows * t);
        let mut targets = Vec::with_capacity(rows * t);
        for r in 0..rows {
            let window = &self.pending[r * t..r * t + t + 1];
            inputs.extend_from_slice(&window[..t]);
            targets.extend_from_slice(&window[1..]);
        }
        let batch = TokenBatch {
            inputs: Tensor::from_vec(inputs, (rows, t), &Device::Cpu)?,
            targets: Tensor::from_vec(targets.clone(), rows * t, &Device::Cpu)?,
            scored: None,
            packing: None,
        };
        let nll = self.model.target_nll(&batch)?;
        self.totals.add(&targets, &nll, self.bytes);
        Ok(())
    }
}

/// Log-likelihoods (nats, summed over the continuation's tokens) of each continuation after `context`,
/// as lm-eval-harness computes them: the ids are context + continuation, cut from the left to the
/// last block_size + 1, and only the continuation's tokens are scored. The continuations go through
/// one forward pass, padded at the end (causal attention keeps padding out of every real position).
pub fn continuation_loglikelihoods(model: &Llama, context: &[u32], continuations: &[Vec<u32>]) -> Result<Vec<f64>> {
    let window = model.config.block_size + 1;
    let sequences: Vec<(Vec<u32>, usize)> = continuations
        .iter()
        .map(|continuation| {
            let mut whole: Vec<u32> = context.iter().chain(continuation).copied().collect();
            if whole.len() > window {
                whole.drain(..whole.len() - window);
            }
            (whole, continuation.len().min(window - 1))
        })
        .collect();
    let t = sequences.iter().map(|(whole, _)| whole.len() - 1).max().unwrap_or(0);
    if t == 0 {
        return Ok(vec![0.0; continuations.len()]);
    }
    let (mut inputs, mut targets, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    for (r, (whole, scored)) in sequences.iter().enumerate() {
        let n = whole.len() - 1;
        inputs.extend_from_slice(&whole[..n]);
        inputs.resize((r + 1) * t, 0);
        targets.extend_from_slice(&whole[1..]);
        targets.resize((r + 1) * t, 0);
        rows.extend((n - scored..n).map(|i| (r * t + i) as u32));
    }
    let batch = TokenBatch {
        inputs: Tensor::from_vec(inputs, (sequences.len(), t), &Device::Cpu)?,
        targets: Tensor::from_vec(targets, sequences.len() * t, &Device::Cpu)?,
        scored: Some(Tensor::from_vec(rows.clone(), rows.len(), &Device::Cpu)?),
        packing: None,
    };
    let nll = model.target_nll(&batch)?;
    let mut sums = Vec::with_capacity(sequences.len());
    let mut at = 0;
    for (_, scored) in &sequences {
        sums.push(-nll[at..at + scored].iter().map(|&x| x as f64).sum::<f64>());
        at += scored;
    }
    Ok(sums)
}
