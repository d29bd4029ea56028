//! Times the forward pass, forward + backward, and AdamW for the bench:train model on fixed tokens: a
//! profiling aid (`perf record` it). Run with MIMALLOC_PURGE_DELAY=-1 to match the addon's setting.
//!
//!   cargo run --release --example profile_step -p minilm-core

use std::time::Instant;

use candle_core::{Device, Tensor};
use minilm_core::model::{Llama, ModelConfig};
use minilm_core::train::optimizer::{AdamW, AdamWConfig};

// The Node addon's allocator, so that allocation costs match what training pays.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config: ModelConfig = serde_json::from_value(serde_json::json!({
        "name": "bench", "block_size": 256, "vocab_size": 6400, "padded_vocab_size": 6400, "n_layer": 6, "n_embd": 384,
        "n_head": 6, "head_size": 64, "n_query_groups": 2, "intermediate_size": 1024, "rotary_percentage": 1.0,
        "tie_embeddings": true, "norm_eps": 1e-5, "rope_base": 10000
    }))?;
    let device = Device::Cpu;
    let model = Llama::init(config, 42, &device)?;
    let mut opt = AdamW::new(AdamWConfig { weight_decay: 0.1, betas: (0.9, 0.95), eps: 1e-8 }, &model.params)?;
    let ids: Vec<u32> = (0..8 * 257).map(|i| (i * 7919 % 6400) as u32).collect();
    let batch = Tensor::from_vec(ids, (8, 257), &device)?;
    for step in 0..10 {
        let t0 = Instant::now();
        let loss = model.loss(&batch)?.to_scalar::<f32>()?;
        let t1 = Instant::now();
        let (_, grads) = model.loss_and_grads(&batch, 1.0)?;
        let t2 = Instant::now();
        opt.step(&model.params, &grads, 1e-3)?;
        let t3 = Instant::now();
        println!(
            "step {step}: loss {loss:.4} forward {:?} forward+backward {:?} adamw {:?} -> {:.0} tok/s",
            t1 - t0,
            t2 - t1,
            t3 - t2,
            2048.0 / (t3 - t1).as_secs_f64()
        );
    }
    Ok(())
}
