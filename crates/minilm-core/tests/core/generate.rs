//! Generation: the KV cache gives the logits of a full forward pass, and a generator with and
//! without the cache picks the same tokens. Uses the golden test's tiny models and weights.

use crate::support;

use std::sync::Arc;

use candle_core::{Device, Tensor};
use minilm_core::generate::{GenerateOptions, Generator, SamplingOptions};
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
            let options = GenerateOptions { max_new_tokens: 6, sampling, seed: 3, eos_id: None, kv_cache };
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
    };
    let message = Generator::new(model, vec![1, 2], options).err().unwrap().to_string();
    assert!(message.contains("block_size") && message.contains("max_new_tokens"), "{message}");
}
