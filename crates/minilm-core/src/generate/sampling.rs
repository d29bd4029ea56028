//! Choosing the next token from logits: repetition penalty, temperature, top-k and top-p (nucleus)
//! as litgpt's `sample` applies them, with a seeded generator so a seed repeats its text; and before
//! them Hugging Face's no_repeat_ngram_size and OpenAI's frequency / presence penalties.

use serde::{Deserialize, Serialize};

use crate::util::SplitMix64;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SamplingOptions {
    /// 0 picks the most likely token (greedy).
    pub temperature: f64,
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens whose probabilities sum to at least top_p (1 keeps all).
    pub top_p: f64,
    /// Above 1, tokens already in the text become less likely (CTRL's penalty, as Hugging Face applies
    /// it: positive logits divided by it, negative ones multiplied); 1 is off.
    pub repetition_penalty: f64,
    /// Above 0, a token that would repeat an n-gram of this many tokens already in the text (prompt
    /// included) is never chosen, as Hugging Face's no_repeat_ngram_size; 0 is off.
    #[serde(default)]
    pub no_repeat_ngram_size: usize,
    /// OpenAI's penalties, over the generated tokens: each logit minus frequency_penalty times the
    /// token's count so far, and minus presence_penalty when it appeared at all; 0 is off.
    #[serde(default)]
    pub frequency_penalty: f64,
    #[serde(default)]
    pub presence_penalty: f64,
}

/// litgpt's generate defaults.
impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            temperature: 0.8,
            top_k: Some(50),
            top_p: 1.0,
            repetition_penalty: 1.0,
            no_repeat_ngram_size: 0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
        }
    }
}

/// The next token for `logits` (one per vocabulary entry), given the ids so far (`seen`), of which the
/// first `prompt_len` were the prompt.
pub fn sample(logits: &mut [f32], seen: &[u32], prompt_len: usize, options: &SamplingOptions, rng: &mut SplitMix64) -> u32 {
    ban_repeated_ngrams(logits, seen, options.no_repeat_ngram_size);
    if options.frequency_penalty != 0.0 || options.presence_penalty != 0.0 {
        let mut counts = vec![0u32; logits.len()];
        for &id in seen.get(prompt_len..).unwrap_or_default() {
            if let Some(count) = counts.get_mut(id as usize) {
                *count += 1;
            }
        }
        for (logit, &count) in logits.iter_mut().zip(&counts).filter(|(_, &c)| c > 0) {
            *logit -= (options.frequency_penalty * count as f64 + options.presence_penalty) as f32;
        }
    }
    if options.repetition_penalty != 1.0 {
        let penalty = options.repetition_penalty as f32;
        let mut penalised = vec![false; logits.len()];
        for &id in seen {
            let id = id as usize;
            if id < logits.len() && !penalised[id] {
                penalised[id] = true;
                logits[id] = if logits[id] > 0.0 { logits[id] / penalty } else { logits[id] * penalty };
            }
        }
    }
    if options.temperature <= 0.0 {
        return argmax(logits);
    }
    let inverse_temperature = (1.0 / options.temperature) as f32;
    logits.iter_mut().for_each(|l| *l *= inverse_temperature);

    // Candidates by decreasing logit; ties keep the lower id first, so results do not depend on sort internals.
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
    if let Some(k) = options.top_k {
        order.truncate(k.max(1));
    }
    let max = logits[order[0] as usize];
    let mut probs: Vec<f64> = order.iter().map(|&id| ((logits[id as usize] - max) as f64).exp()).collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if options.top_p < 1.0 {
        // litgpt drops the tokens whose cumulative probability, counted from the least likely, stays
        // within 1 - top_p; the most likely token always stays.
        let mut kept = 0;
        let mut cumulative = 0.0;
        for p in &probs {
            kept += 1;
            cumulative += p;
            if cumulative >= options.top_p {
                break;
            }
        }
        order.truncate(kept);
        probs.truncate(kept);
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
    }
    let mut u = rng.next_f64();
    for (&id, &p) in order.iter().zip(&probs) {
        if u < p {
            return id;
        }
        u -= p;
    }
    *order.last().expect("at least one candidate")
}

/// Sets to -inf the logit of every token that would end an n-gram already in `seen`.
fn ban_repeated_ngrams(logits: &mut [f32], seen: &[u32], n: usize) {
    if n == 0 || seen.len() < n {
        return;
    }
    let prefix = &seen[seen.len() - (n - 1)..];
    for start in 0..=seen.len() - n {
        if &seen[start..start + n - 1] == prefix {
            if let Some(logit) = logits.get_mut(seen[start + n - 1] as usize) {
                *logit = f32::NEG_INFINITY;
            }
        }
    }
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(temperature: f64, top_k: Option<usize>, top_p: f64, repetition_penalty: f64) -> SamplingOptions {
        SamplingOptions { temperature, top_k, top_p, repetition_penalty, ..SamplingOptions::default() }
    }

    #[test]
    fn a_repeated_ngram_is_never_completed() {
        let mut rng = SplitMix64::new(1);
        // The text ends with 1 2 after "1 2 3": with n = 3, token 3 is banned, so greedy takes 0.
        let banned = SamplingOptions { no_repeat_ngram_size: 3, ..options(0.0, None, 1.0, 1.0) };
        assert_eq!(sample(&mut [1.0, 0.0, 0.0, 5.0], &[1, 2, 3, 1, 2], 0, &banned, &mut rng), 0);
        assert_eq!(sample(&mut [1.0, 0.0, 0.0, 5.0], &[1, 2, 3, 1, 2], 0, &options(0.0, None, 1.0, 1.0), &mut rng), 3);
    }

    #[test]
    fn frequency_and_presence_penalties_count_generated_tokens_only() {
        let mut rng = SplitMix64::new(1);
        let penalised = SamplingOptions { frequency_penalty: 0.5, presence_penalty: 0.5, ..options(0.0, None, 1.0, 1.0) };
        // Token 1 was generated twice: 2.0 - 2 * 0.5 - 0.5 = 0.5 < 1.9 (token 3 is only in the prompt).
        assert_eq!(sample(&mut [0.1, 2.0, -1.0, 1.9], &[3, 1, 1], 1, &penalised, &mut rng), 3);
    }

    #[test]
    fn greedy_takes_the_largest_logit() {
        let mut rng = SplitMix64::new(1);
        assert_eq!(sample(&mut [0.1, 2.0, -1.0, 1.9], &[], 0, &options(0.0, None, 1.0, 1.0), &mut rng), 1);
    }

    #[test]
    fn repetition_penalty_moves_greedy_off_a_seen_token() {
        let mut rng = SplitMix64::new(1);
        // 2.0 / 1.5 = 1.33 < 1.9, so token 3 wins once token 1 was seen.
        assert_eq!(sample(&mut [0.1, 2.0, -1.0, 1.9], &[1, 1], 0, &options(0.0, None, 1.0, 1.5), &mut rng), 3);
    }

    #[test]
    fn top_k_1_and_a_tiny_top_p_are_greedy() {
        for seed in 0..20 {
            let mut rng = SplitMix64::new(seed);
            assert_eq!(sample(&mut [0.1, 2.0, -1.0, 1.9], &[], 0, &options(1.0, Some(1), 1.0, 1.0), &mut rng), 1);
            assert_eq!(sample(&mut [0.1, 2.0, -1.0, 1.9], &[], 0, &options(1.0, None, 0.01, 1.0), &mut rng), 1);
        }
    }

    #[test]
    fn sampling_follows_the_softmax_and_top_k_excludes_the_rest() {
        let mut rng = SplitMix64::new(7);
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[sample(&mut [0.0, (2f32).ln(), -100.0], &[], 0, &options(1.0, Some(2), 1.0, 1.0), &mut rng) as usize] += 1;
        }
        assert_eq!(counts[2], 0);
        let ratio = counts[1] as f64 / counts[0] as f64; // exp(ln 2) / exp(0) = 2
        assert!((ratio - 2.0).abs() < 0.1, "ratio {ratio}");
    }
}
