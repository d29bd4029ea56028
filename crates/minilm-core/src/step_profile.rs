//! Where a training step's time goes on a device: each part of one micro-batch of the reference run
//! (80 x 512 tokens through the 108M model, at `Shapes::Reference`) timed on its own at the real shapes,
//! on random inputs, then added up per micro-batch. Each part runs once to warm up, then `REPS` times; a
//! part's time is the mean, measured on a GPU with CUDA events recorded on the device's stream around
//! the runs (the GPU's own clock, no host synchronisation inside the measurement) and on the CPU with
//! the wall clock. The sum is what the step would take with no gaps between kernels, to hold against the
//! measured training step. scripts/gpu-check.sh prints it.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use serde::Serialize;

use crate::error::Result;
use crate::kernel_check::{uniform, Dims, Shapes};
use crate::model::fused;
use crate::model::layers::{split_heads, RopeCache};

const REPS: usize = 5;

/// The reference run's micro-batches per optimizer step (global batch 640 / micro-batch 80).
const ACCUMULATION: usize = 8;

#[derive(Clone, Debug, Serialize)]
pub struct PartTime {
    pub part: String,
    /// How many times the part runs per micro-batch (AdamW's share: 1 / accumulation).
    pub per_micro_batch: f64,
    /// One run's time, milliseconds.
    pub ms_each: f64,
    /// per_micro_batch x ms_each.
    pub ms_per_micro_batch: f64,
}

/// Each part of a micro-batch in `dtype` activations (float32 master weights and optimizer state).
pub fn profile(device: &Device, dtype: DType, shapes: Shapes) -> Result<Vec<PartTime>> {
    let Dims { batch, t, heads, groups, head_size: d, embd: c, intermediate: i, vocab: v, layers, parameters } = shapes.dims();
    let n = batch * t;
    let input = |shape: &[usize], seed: u64| -> Result<Tensor> { Ok(uniform(shape, seed, 1.0, 0.0)?.to_dtype(dtype)?.to_device(device)?) };
    let mut parts = Vec::new();
    let mut time = |part: &str, per_micro_batch: f64, run: &dyn Fn() -> candle_core::Result<()>| -> Result<()> {
        let ms_each = device_ms(device, run)?;
        parts.push(PartTime { part: part.into(), per_micro_batch, ms_each, ms_per_micro_batch: ms_each * per_micro_batch });
        Ok(())
    };

    // Weight matmuls: forward y = x W^t, backward dx = dy W and dW = dy^t x, for every linear layer.
    let x = input(&[n, c], 1)?;
    let wide = input(&[n, i], 2)?;
    let linears: [(&str, usize, usize, f64); 6] = [
        ("matmul attn.qkv (fwd + 2 bwd)", c, (heads + 2 * groups) * d, layers as f64),
        ("matmul attn.proj (fwd + 2 bwd)", heads * d, c, layers as f64),
        ("matmul mlp.fc_1 (fwd + 2 bwd)", c, i, layers as f64),
        ("matmul mlp.fc_2 (fwd + 2 bwd)", c, i, layers as f64),
        ("matmul mlp.proj (fwd + 2 bwd)", i, c, layers as f64),
        ("matmul lm_head (fwd + 2 bwd)", c, v, 1.0),
    ];
    for (seed, (part, inputs, outputs, count)) in linears.into_iter().enumerate() {
        let weight = input(&[outputs, inputs], 10 + seed as u64)?;
        let x = if inputs == c { x.clone() } else { wide.narrow(1, 0, inputs)?.contiguous()? };
        let dy = input(&[n, outputs], 20 + seed as u64)?;
        time(part, count, &|| {
            x.matmul(&weight.t()?)?;
            dy.matmul(&weight)?;
            dy.t()?.matmul(&x)?;
            Ok(())
        })?;
    }

    // Attention: the composite path (two products forward, four backward, the causal softmax both ways),
    // which a GPU trains with by default and whose parts count in the sum; and the flash kernels where
    // the device has them, timed beside it with a count of 0 (a run takes them only when the composite
    // path's memory does not fit).
    let q = input(&[batch, groups, heads / groups * t, d], 30)?;
    let k = input(&[batch, groups, t, d], 31)?;
    let scale = 1.0 / (d as f64).sqrt();
    if fused::use_flash_attention(fused::AttentionPath::Flash, &q) {
        let causal = fused::Causal { query_len: t, first_position: 0, scale: scale as f32 };
        let (out, lse) = fused::flash_attention(&q, &k, &k, causal)?;
        time("flash attention (fwd + bwd; not in the sum)", 0.0, &|| {
            fused::flash_attention(&q, &k, &k, causal)?;
            fused::flash_attention_backward(&q, &k, &k, &out, &lse, &q, causal)?;
            Ok(())
        })?;
    }
    let composite = layers as f64;
    let weights = fused::causal_softmax(&q.matmul(&k.t()?)?, scale, t, 0)?;
    time("attention products (2 fwd + 4 bwd)", composite, &|| {
        let scores = q.matmul(&k.t()?)?;
        let y = weights.matmul(&k)?;
        scores.matmul(&k)?; // d_queries = d_scores K
        scores.t()?.matmul(&q)?; // d_keys
        y.matmul(&k.t()?)?; // d_weights = dY v^t
        weights.t()?.matmul(&y)?; // d_values
        Ok(())
    })?;
    time("causal softmax (fwd + bwd)", composite, &|| {
        let w = fused::causal_softmax(&weights, scale, t, 0)?;
        fused::causal_softmax_backward(&w, &weights, scale, t, 0)?;
        Ok(())
    })?;

    let norm_weight = uniform(&[c], 40, 0.1, 1.0)?.to_device(device)?;
    time("rms_norm backward (+ residual gradient)", (2 * layers + 1) as f64, &|| {
        fused::rms_norm_backward(&x, &norm_weight, &x, Some(&x), 1e-5).map(|_| ())
    })?;

    let qkv = input(&[n, (heads + 2 * groups) * d], 41)?;
    let rope = RopeCache::new(d, 10000.0, t, device)?;
    time("heads + RoPE (3 splits, 1 merge; bwd the same)", 2.0 * layers as f64, &|| {
        let queries = split_heads(&qkv, batch, 0, heads, groups, d, Some(&rope.rotation(0)))?;
        split_heads(&qkv, batch, heads, groups, groups, d, Some(&rope.rotation(0)))?;
        split_heads(&qkv, batch, heads + groups, groups, groups, d, None)?;
        fused::merge_heads(&queries, heads, Some(&rope.rotation(0)))?;
        Ok(())
    })?;

    time("swiglu (fwd + bwd)", layers as f64, &|| {
        fused::swiglu(&wide, &wide)?;
        fused::swiglu_backward(&wide, &wide, &wide)?;
        Ok(())
    })?;
    // The residual adds are fused into the norms after them, and their gradients into the norms'
    // backward; what remains per layer is dh2 = dh2_gate + dh2_up.
    time("gradient add (1 per layer)", layers as f64, &|| (&x + &x).map(|_| ()))?;
    time("residual add + rms_norm forward", (2 * layers + 1) as f64, &|| fused::add_rms_norm(&x, &x, &norm_weight, 1e-5).map(|_| ()))?;

    let logits = input(&[n, v], 50)?;
    let targets = Tensor::from_vec((0..n as u32).map(|i| i * 7 % v as u32).collect::<Vec<_>>(), n, device)?;
    time("classifier: loss + dlogits", 1.0, &|| fused::cross_entropy_with_grad(&logits, &targets, 1.0).map(|_| ()))?;
    let ids: Vec<u32> = (0..n as u32).map(|i| i * 13 % v as u32).collect();
    time("embedding backward", 1.0, &|| fused::embedding_backward(&ids, &x, v).map(|_| ()))?;

    // Per micro-batch over all parameters: the bf16 copies of the weights (made by the forward pass, kept
    // for the backward), the gradients widened to float32, and adding into the accumulated gradients.
    let flat = uniform(&[parameters], 60, 0.02, 0.0)?.to_device(device)?;
    time("weights to compute dtype, grads to f32, accumulate", 1.0, &|| {
        let copy = flat.to_dtype(dtype)?;
        (copy.to_dtype(DType::F32)? + &flat)?;
        Ok(())
    })?;
    parts.extend(optimizer_part(device, &flat)?);
    Ok(parts)
}

/// AdamW and the gradient norm over all parameters, once per optimizer step.
fn optimizer_part(device: &Device, flat: &Tensor) -> Result<Vec<PartTime>> {
    use crate::train::optimizer::{clip_grad_norm, AdamW, AdamWConfig};
    let params = crate::model::Parameters::from_named(vec![("all".into(), flat.copy()?)])?;
    let optimizer = AdamW::new(AdamWConfig { weight_decay: 0.1, betas: (0.9, 0.95), eps: 1e-8 }, &params)?;
    let grads = std::cell::RefCell::new(vec![(flat * 1e-3)?]);
    let optimizer = std::cell::RefCell::new(optimizer);
    let ms_each = device_ms(device, &|| {
        let mut grads = grads.borrow_mut();
        clip_grad_norm(&mut grads, 1.0).map_err(candle_core::Error::wrap)?;
        optimizer.borrow_mut().step(&params, &grads, 1e-4).map_err(candle_core::Error::wrap)
    })?;
    let share = 1.0 / ACCUMULATION as f64;
    Ok(vec![PartTime {
        part: "AdamW + grad norm (per step / 8)".into(),
        per_micro_batch: share,
        ms_each,
        ms_per_micro_batch: ms_each * share,
    }])
}

/// Milliseconds per run of `run`, the mean of REPS runs after one to warm up: on a GPU between two CUDA
/// events recorded on the device's stream (what the GPU's clock saw, host synchronisation left out of the
/// measurement), on the CPU by the wall clock.
pub(crate) fn device_ms(device: &Device, run: &dyn Fn() -> candle_core::Result<()>) -> Result<f64> {
    run()?;
    #[cfg(feature = "cuda")]
    if let Device::Cuda(cuda) = device {
        use candle_core::cuda_backend::cudarc::driver::sys::CUevent_flags;
        use candle_core::cuda_backend::WrapErr;
        let stream = cuda.cuda_stream();
        let start = stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).w()?;
        for _ in 0..REPS {
            run()?;
        }
        let end = stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).w()?;
        return Ok(start.elapsed_ms(&end).w()? as f64 / REPS as f64);
    }
    device.synchronize()?;
    let started = Instant::now();
    for _ in 0..REPS {
        run()?;
    }
    device.synchronize()?;
    Ok(started.elapsed().as_secs_f64() * 1e3 / REPS as f64)
}
