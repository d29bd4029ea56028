//! Generation: the KV cache gives the logits of a full forward pass, and a generator with and
//! without the cache picks the same tokens. Uses the golden test's tiny models and weights.

use crate::support;

use std::sync::Arc;

use candle_core::{Device, Tensor};
use minilm_core::generate::{Chosen, DecodeBatch, GenerateOptions, Generator, SamplingOptions, Sequence};
use minilm_core::model::{KvCache, Llama};
use support::{golden, model, Case};

fn models() -> Vec<(Case, Arc<Llama>)> {
    let cases = golden().cases;
    let models: Vec<Arc<Llama>> = cases.iter().map(|case| Arc::new(model(case))).collect();
    cases.into_iter().zip(models).collect()
}

#[test]
fn cached_logits_equal_a_full_forward_pass() {
    for (case, model) in models() {
        let ids = &case.input_ids[0];
        let full = model.forward(&Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap()).unwrap().squeeze(0).unwrap();
        // A 3-token prompt in one call, then one token per call.
        let mut cache = KvCache::default();
        let mut rows =
            vec![model.forward_cached(&Tensor::new(&ids[..3], &Device::Cpu).unwrap().unsqueeze(0).unwrap(), &mut cache).unwrap()];
        for &id in &ids[3..] {
            rows.push(model.forward_cached(&Tensor::new(&[id], &Device::Cpu).unwrap().unsqueeze(0).unwrap(), &mut cache).unwrap());
        }
        assert_eq!(cache.len(), ids.len());
        let cached = Tensor::cat(&rows, 0).unwrap();
        let diff = (cached - &full).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "{}: cached logits differ by {diff}", case.name);
    }
}

#[test]
fn generation_with_and_without_the_cache_picks_the_same_tokens() {
    for (case, model) in models() {
        let run = |kv_cache: bool, temperature: f64| {
            let sampling =
                SamplingOptions { temperature, top_k: Some(5), top_p: 0.9, repetition_penalty: 1.2, ..SamplingOptions::default() };
            let options = GenerateOptions { max_new_tokens: 6, sampling, seed: 3, eos_id: None, kv_cache, ..GenerateOptions::default() };
            let mut generator = Generator::new(model.clone(), case.input_ids[0][..2].to_vec(), options).unwrap();
            std::iter::from_fn(|| generator.next_token().unwrap()).collect::<Vec<u32>>()
        };
        for temperature in [0.0, 0.8] {
            let cached = run(true, temperature);
            assert_eq!(cached.len(), 6);
            assert_eq!(cached, run(false, temperature), "{} at temperature {temperature}", case.name);
            assert_eq!(cached, run(true, temperature), "{}: same seed, same tokens", case.name);
        }
    }
}

#[test]
fn a_prompt_longer_than_the_block_is_refused_with_the_numbers() {
    let (case, model) = models().remove(0);
    let options = GenerateOptions {
        max_new_tokens: case.config.block_size,
        sampling: SamplingOptions { temperature: 0.0, top_k: None, top_p: 1.0, repetition_penalty: 1.0, ..SamplingOptions::default() },
        seed: 1,
        eos_id: None,
        kv_cache: true,
        ..GenerateOptions::default()
    };
    let message = Generator::new(model, vec![1, 2], options).err().unwrap().to_string();
    assert!(message.contains("block_size") && message.contains("max_new_tokens"), "{message}");
}

fn sampled(temperature: f64, seed: u64, max_new_tokens: usize) -> GenerateOptions {
    let sampling = SamplingOptions { temperature, top_k: Some(5), top_p: 0.9, repetition_penalty: 1.2, ..SamplingOptions::default() };
    // Prompts of up to 5 tokens prefill in passes of 2, over up to 3 steps in a batch.
    GenerateOptions { max_new_tokens, sampling, seed, eos_id: None, kv_cache: true, top_logprobs: Some(3), prefill_chunk: 2 }
}

#[test]
fn a_decode_step_over_several_caches_gives_each_ones_full_forward_logits() {
    for (case, model) in models() {
        let ids = &case.input_ids[0];
        let full = |n: usize| {
            let input = Tensor::new(&ids[..n], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            model.forward(&input).unwrap().squeeze(0).unwrap().get(n - 1).unwrap()
        };
        // Two sequences of different lengths (so different positions) step together.
        let mut caches: Vec<KvCache> = (0..2).map(|_| KvCache::default()).collect();
        for (cache, n) in caches.iter_mut().zip([2, 4]) {
            model.forward_cached(&Tensor::new(&ids[..n - 1], &Device::Cpu).unwrap().unsqueeze(0).unwrap(), cache).unwrap();
        }
        let mut refs: Vec<&mut KvCache> = caches.iter_mut().collect();
        let logits = model.decode_step(&[ids[1], ids[3]], &mut refs).unwrap();
        for (row, n) in [2, 4].into_iter().enumerate() {
            let diff = (logits.get(row).unwrap() - full(n)).unwrap().abs().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-5, "{}: sequence {row} differs by {diff}", case.name);
        }
        assert_eq!((caches[0].len(), caches[1].len()), (2, 4));
    }
}

#[test]
fn a_sequence_gets_the_same_tokens_alone_and_in_a_batch() {
    for (case, model) in models() {
        let prompts: Vec<Vec<u32>> = (1..=5).map(|n| case.input_ids[0][..n.min(case.input_ids[0].len())].to_vec()).collect();
        let settings: Vec<GenerateOptions> = (0..5).map(|i| sampled(if i % 2 == 0 { 0.0 } else { 0.9 }, 10 + i as u64, 3 + i)).collect();
        let alone: Vec<Vec<Chosen>> = prompts
            .iter()
            .zip(&settings)
            .map(|(prompt, options)| {
                let mut generator = Generator::new(model.clone(), prompt.clone(), options.clone()).unwrap();
                std::iter::from_fn(|| generator.next_chosen().unwrap()).collect()
            })
            .collect();
        // Together, joining at different steps: each sequence's tokens and log-probabilities are the same bits.
        let mut batch = DecodeBatch::new(model.clone());
        let mut together: Vec<Vec<Chosen>> = vec![Vec::new(); 5];
        let mut step = 0;
        while step < 3 || !batch.is_empty() {
            if step < 3 {
                for i in [step, step + 3].into_iter().filter(|&i| i < 5) {
                    batch.join(&[i as u64], Sequence::new(&model, prompts[i].clone(), settings[i].clone()).unwrap());
                }
            }
            for token in batch.step().unwrap() {
                together[token.sequence as usize].push(token.chosen);
            }
            step += 1;
        }
        assert_eq!(together, alone, "{}", case.name);
    }
}

#[test]
fn n_choices_share_a_prefill_and_the_first_is_the_single_choice() {
    let (case, model) = models().remove(0);
    let prompt = case.input_ids[0][..3].to_vec();
    let options = sampled(1.0, 5, 6);
    let mut generator = Generator::new(model.clone(), prompt.clone(), options.clone()).unwrap();
    let single: Vec<u32> = std::iter::from_fn(|| generator.next_token().unwrap()).collect();
    let mut batch = DecodeBatch::new(model.clone());
    batch.join(&[7, 8, 9], Sequence::new(&model, prompt, options).unwrap());
    let mut choices: Vec<Vec<u32>> = vec![Vec::new(); 3];
    while !batch.is_empty() || choices[0].is_empty() {
        for token in batch.step().unwrap() {
            choices[token.sequence as usize - 7].push(token.chosen.token);
        }
    }
    assert_eq!(choices[0], single);
    assert!(choices[1] != choices[0] || choices[2] != choices[0], "the other choices sample with their own seeds");
}

#[test]
fn a_long_prompt_joins_over_several_steps_while_the_others_keep_decoding() {
    let (case, model) = models().remove(0);
    let mut batch = DecodeBatch::new(model.clone());
    batch.join(&[0], Sequence::new(&model, case.input_ids[0][..1].to_vec(), sampled(0.0, 1, 6)).unwrap());
    assert_eq!(batch.step().unwrap().len(), 1, "the short prompt's first token");
    // A 5-token prompt in passes of 2: its first token comes at the third step; sequence 0 gets one at each.
    batch.join(&[1], Sequence::new(&model, case.input_ids[0][..5].to_vec(), sampled(0.0, 2, 3)).unwrap());
    let emitted: Vec<Vec<u64>> = (0..3).map(|_| batch.step().unwrap().iter().map(|t| t.sequence).collect()).collect();
    assert_eq!(emitted, vec![vec![0], vec![0], vec![0, 1]]);
}
