//! A checkpoint litgpt wrote (test/golden/litgpt/checkpoint: `litgpt pretrain` 0.5.13 on the CPU, made by
//! scripts/reference/make_litgpt_fixture.py) loads from its lit_model.pth, a training checkpoint with
//! the state dict under "model" beside the optimizer's, and gives the logits litgpt computed with it.

use crate::support;

use candle_core::{Device, Tensor};
use minilm_core::model::{load_weights, Llama, ModelConfig, WeightsFormat};
use serde_json::Value;

#[test]
fn a_litgpt_checkpoint_gives_litgpt_s_logits() {
    let dir = support::repo_root().join("test/golden/litgpt");
    let golden: Value = serde_json::from_slice(&std::fs::read(dir.join("logits.json")).unwrap()).unwrap();
    // model_config.yaml's values, as the TypeScript layer resolves them (tie_embeddings from hyperparameters.yaml).
    let config: ModelConfig = serde_json::from_value(serde_json::json!({
        "name": "tiny-litgpt", "block_size": 64, "vocab_size": 6400, "padded_vocab_size": 6400, "n_layer": 2,
        "n_head": 4, "n_embd": 32, "head_size": 8, "n_query_groups": 2, "rotary_percentage": 1.0,
        "rope_base": 10000.0, "norm_eps": 1e-5, "intermediate_size": 64, "tie_embeddings": true
    }))
    .unwrap();
    let params = load_weights(WeightsFormat::Litgpt, &config, &dir.join("checkpoint/lit_model.pth"), &Device::Cpu).unwrap();
    let model = Llama::new(config, params, &Device::Cpu).unwrap();
    let ids: Vec<u32> = golden["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    let t = ids.len();
    let logits = model.forward(&Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().reshape((1, t)).unwrap()).unwrap();
    let rows: Vec<Vec<f32>> = logits.reshape((t, 6400)).unwrap().to_vec2().unwrap();
    for (position, row) in rows.iter().enumerate() {
        let head = golden["logits_head"][position].as_array().unwrap();
        for (i, want) in head.iter().enumerate() {
            let want = want.as_f64().unwrap();
            assert!((row[i] as f64 - want).abs() < 1e-4 * want.abs().max(1.0), "position {position} logit {i}: {} vs {want}", row[i]);
        }
        let argmax = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(argmax as u64, golden["argmax"][position].as_u64().unwrap(), "position {position}: argmax");
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = max + row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
        let want = golden["logsumexp"][position].as_f64().unwrap();
        assert!((lse - want).abs() < 1e-4, "position {position}: log-sum-exp {lse} vs {want}");
    }
}

#[test]
fn a_file_that_is_not_a_pytorch_checkpoint_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lit_model.pth");
    std::fs::write(&path, b"not a zip").unwrap();
    let config: ModelConfig = serde_json::from_value(serde_json::json!({
        "block_size": 8, "vocab_size": 16, "padded_vocab_size": 16, "n_layer": 1, "n_head": 1, "n_embd": 8,
        "head_size": 8, "n_query_groups": 1, "rotary_percentage": 1.0, "rope_base": 10000.0, "norm_eps": 1e-5,
        "intermediate_size": 8, "tie_embeddings": true
    }))
    .unwrap();
    let error = load_weights(WeightsFormat::Litgpt, &config, &path, &Device::Cpu).err().unwrap().to_string();
    assert!(error.contains("lit_model.pth: cannot read it as a PyTorch checkpoint"), "{error}");
}
