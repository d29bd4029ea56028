//! The kernel check: every fused kernel on a device against its CPU twin, on fresh random inputs, then
//! one whole training step (the loss and every parameter's gradient) against the CPU's. It exists for the
//! GPU (scripts/gpu-check.sh runs it through the CUDA addon), where no Rust toolchain is at hand; on the
//! CPU it compares the CPU with itself, which keeps the check itself tested in CI. On a GPU, a last row
//! runs the step's gradient through data parallelism's NCCL buckets, on one rank.
//!
//! Each comparison is ‖device − cpu‖ / ‖cpu‖ over all outputs of the op, with the device's outputs
//! widened to float32. Device outputs are poisoned (filled with NaN) before each kernel runs, so an
//! element a kernel never writes fails the check. Each op runs twice on the device: the two results
//! must be the same bits. The device time of one call is measured after a warm-up, between
//! synchronisations.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::model::layers::{split_heads, RopeCache};
use crate::model::{fused, Llama, ModelConfig, TokenBatch};
use crate::util::SplitMix64;

/// The shapes to check at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shapes {
    /// The reference run's: micro-batch 80 x 512 tokens through the 108M model's widths.
    Reference,
    /// A few hundred tokens through narrow widths: seconds on a CPU.
    Small,
}

/// The widths the ops are checked (and profiled) at.
#[derive(Clone, Copy)]
pub(crate) struct Dims {
    pub batch: usize,
    pub t: usize,
    pub heads: usize,
    pub groups: usize,
    pub head_size: usize,
    pub embd: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub layers: usize,
    pub parameters: usize,
}

impl Shapes {
    pub(crate) fn dims(self) -> Dims {
        match self {
            Shapes::Reference => Dims {
                batch: 80,
                t: 512,
                heads: 16,
                groups: 8,
                head_size: 48,
                embd: 768,
                intermediate: 2048,
                vocab: 6400,
                layers: 16,
                parameters: 108_749_568,
            },
            Shapes::Small => Dims {
                batch: 2,
                t: 40,
                heads: 4,
                groups: 2,
                head_size: 16,
                embd: 64,
                intermediate: 160,
                vocab: 300,
                layers: 2,
                parameters: 150_000,
            },
        }
    }
}

/// One comparison.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRow {
    pub name: String,
    /// The device's activation dtype: "f32" or "bf16".
    pub dtype: String,
    pub shape: String,
    /// ‖device − cpu‖ / ‖cpu‖ (the worst over the op's outputs, or over parameters for the whole step).
    pub relative_error: f64,
    pub limit: f64,
    /// Two runs on the device gave the same bits.
    pub deterministic: bool,
    /// One call's device time, milliseconds.
    pub device_ms: f64,
    pub passed: bool,
    /// Why the row could not be computed at all.
    pub error: Option<String>,
}

const F32_LIMIT: f64 = 1e-5;
const BF16_LIMIT: f64 = 1e-2;
/// A whole step sums thousands of rounding errors through two layers and two matmul libraries. In bf16
/// every activation is rounded to 8 significant bits (2^-9 relative), and the gradients drift by a few
/// percent (the float16 golden test, with 3 more bits, allows a cosine of 0.99); a wrong kernel gives
/// errors near 1.
const STEP_F32_LIMIT: f64 = 1e-4;
const STEP_BF16_LIMIT: f64 = 1e-1;

/// Runs every comparison on `device` at `shapes`. A comparison that fails to run becomes a failed row;
/// the check goes on.
pub fn run(device: &Device, shapes: Shapes) -> Vec<CheckRow> {
    #[cfg(feature = "cuda")]
    fused::cuda::set_poison_outputs(true);
    let mut rows = Vec::new();
    for dtype in [DType::F32, DType::BF16] {
        if !fused::supports(device, dtype) {
            continue;
        }
        let checker = Checker { device, dtype, dims: shapes.dims() };
        for (name, op) in ops() {
            rows.push(checker.row(name, || op(&checker)));
        }
        rows.push(checker.row("whole step (loss, every gradient)", || checker.whole_step(false)));
        rows.push(checker.row("SFT step (loss on scored rows only)", || checker.whole_step(true)));
    }
    // Last: joining NCCL turns cudarc's event tracking off for the rest of the process.
    #[cfg(feature = "cuda")]
    if device.is_cuda() {
        let checker = Checker { device, dtype: DType::F32, dims: shapes.dims() };
        rows.push(checker.row("step summed in buckets, shard shared (NCCL, 1 rank)", || checker.bucketed_step()));
    }
    #[cfg(feature = "cuda")]
    fused::cuda::set_poison_outputs(false);
    rows
}

/// An op's outputs on the device and on the CPU, the shape it ran at, and the device's outputs from a
/// second run.
struct Outcome {
    shape: String,
    device: Vec<Tensor>,
    cpu: Vec<Tensor>,
    again: Vec<Tensor>,
    device_ms: f64,
    limit: f64,
}

type Op = fn(&Checker) -> Result<Outcome>;

/// Every op the check covers, by the name its row shows.
fn ops() -> Vec<(&'static str, Op)> {
    vec![
        ("rms_norm", |c| c.rms_norm()),
        ("residual add + rms_norm", |c| c.add_rms_norm()),
        ("rms_norm_backward (+ residual gradient)", |c| c.rms_norm_backward()),
        ("split_heads + RoPE (queries, keys)", |c| c.split_heads()),
        ("merge_heads + inverse RoPE", |c| c.merge_heads()),
        ("causal_softmax", |c| c.causal_softmax()),
        ("causal_softmax_backward", |c| c.causal_softmax_backward()),
        ("flash attention (output, log-sum-exp)", |c| c.flash_attention()),
        ("flash attention backward (dq, dk, dv)", |c| c.flash_attention_backward()),
        ("swiglu", |c| c.swiglu()),
        ("swiglu_backward", |c| c.swiglu_backward()),
        ("cross_entropy_with_grad", |c| c.cross_entropy()),
        ("embedding_backward", |c| c.embedding_backward()),
        ("adamw", |c| c.adamw()),
        ("global grad norm", |c| c.grad_norm()),
    ]
}

struct Checker<'a> {
    device: &'a Device,
    dtype: DType,
    dims: Dims,
}

impl Checker<'_> {
    fn row(&self, name: &str, compute: impl FnOnce() -> Result<Outcome>) -> CheckRow {
        let dtype = if self.dtype == DType::BF16 { "bf16" } else { "f32" }.to_string();
        let outcome = compute().and_then(|o| Ok((relative_error(&o.device, &o.cpu)?, bits_equal(&o.device, &o.again)?, o)));
        match outcome {
            Ok((error, deterministic, o)) => CheckRow {
                name: name.into(),
                dtype,
                shape: o.shape,
                relative_error: error,
                limit: o.limit,
                deterministic,
                device_ms: o.device_ms,
                passed: error <= o.limit && deterministic,
                error: None,
            },
            Err(e) => CheckRow {
                name: name.into(),
                dtype,
                shape: String::new(),
                relative_error: f64::NAN,
                limit: 0.0,
                deterministic: false,
                device_ms: f64::NAN,
                passed: false,
                error: Some(e.to_string()),
            },
        }
    }

    fn limit(&self) -> f64 {
        if self.dtype == DType::BF16 {
            BF16_LIMIT
        } else {
            F32_LIMIT
        }
    }

    /// A random tensor on the CPU (float32, rounded through the device dtype so that both sides see
    /// the same values) and the same values on the device in the device dtype.
    fn input(&self, shape: &[usize], seed: u64, scale: f32, offset: f32) -> Result<(Tensor, Tensor)> {
        let rounded = uniform(shape, seed, scale, offset)?.to_dtype(self.dtype)?;
        Ok((rounded.to_dtype(DType::F32)?, rounded.to_device(self.device)?))
    }

    /// A float32 tensor on both sides (weights, optimizer state).
    fn input_f32(&self, shape: &[usize], seed: u64, scale: f32, offset: f32) -> Result<(Tensor, Tensor)> {
        let cpu = uniform(shape, seed, scale, offset)?;
        let device = cpu.to_device(self.device)?;
        Ok((cpu, device))
    }

    /// Runs `device_op` twice (timing the second), `cpu_op` once.
    fn compare(
        &self,
        shape: String,
        device_op: impl Fn() -> Result<Vec<Tensor>>,
        cpu_op: impl FnOnce() -> Result<Vec<Tensor>>,
    ) -> Result<Outcome> {
        let device = device_op()?;
        self.device.synchronize()?;
        let started = Instant::now();
        let again = device_op()?;
        self.device.synchronize()?;
        let device_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(Outcome { shape, device, cpu: cpu_op()?, again, device_ms, limit: self.limit() })
    }

    fn tokens(&self) -> usize {
        self.dims.batch * self.dims.t
    }

    fn rms_norm(&self) -> Result<Outcome> {
        let (n, c) = (self.tokens(), self.dims.embd);
        let (x, dx) = self.input(&[n, c], 1, 2.0, 0.0)?;
        let (w, dw) = self.input_f32(&[c], 2, 0.5, 1.0)?;
        self.compare(format!("{n}x{c}"), || Ok(vec![fused::rms_norm(&dx, &dw, 1e-5)?]), || Ok(vec![fused::rms_norm(&x, &w, 1e-5)?]))
    }

    fn add_rms_norm(&self) -> Result<Outcome> {
        let (n, c) = (self.tokens(), self.dims.embd);
        let ((x, dx), (delta, d_delta)) = (self.input(&[n, c], 40, 2.0, 0.0)?, self.input(&[n, c], 41, 1.0, 0.0)?);
        let (w, dw) = self.input_f32(&[c], 42, 0.5, 1.0)?;
        let pair = |(a, b): (Tensor, Tensor)| vec![a, b];
        self.compare(
            format!("{n}x{c}"),
            || Ok(pair(fused::add_rms_norm(&dx, &d_delta, &dw, 1e-5)?)),
            || Ok(pair(fused::add_rms_norm(&x, &delta, &w, 1e-5)?)),
        )
    }

    fn rms_norm_backward(&self) -> Result<Outcome> {
        let (n, c) = (self.tokens(), self.dims.embd);
        let (x, dx) = self.input(&[n, c], 3, 2.0, 0.0)?;
        let (w, dw) = self.input_f32(&[c], 4, 0.5, 1.0)?;
        let (g, dg) = self.input(&[n, c], 5, 1.0, 0.0)?;
        let pair = |(a, b): (Tensor, Tensor)| vec![a, b];
        self.compare(
            format!("{n}x{c}"),
            || Ok(pair(fused::rms_norm_backward(&dx, &dw, &dg, Some(&dx), 1e-5)?)),
            || Ok(pair(fused::rms_norm_backward(&x, &w, &g, Some(&x), 1e-5)?)),
        )
    }

    fn rope(&self, device: &Device) -> Result<RopeCache> {
        Ok(RopeCache::new(self.dims.head_size, 10000.0, self.dims.t, device)?)
    }

    fn split_heads(&self) -> Result<Outcome> {
        let Dims { batch, t, heads, groups, head_size: d, .. } = self.dims;
        let width = (heads + 2 * groups) * d;
        let (x, dx) = self.input(&[batch * t, width], 6, 2.0, 0.0)?;
        let (cpu_rope, device_rope) = (self.rope(&Device::Cpu)?, self.rope(self.device)?);
        let split = |x: &Tensor, rope: &RopeCache| -> Result<Vec<Tensor>> {
            let q = split_heads(x, batch, 0, heads, groups, d, Some(&rope.rotation(0)))?;
            let k = split_heads(x, batch, heads, groups, groups, d, Some(&rope.rotation(0)))?;
            Ok(vec![q, k])
        };
        self.compare(format!("{}x{width}", batch * t), || split(&dx, &device_rope), || split(&x, &cpu_rope))
    }

    fn merge_heads(&self) -> Result<Outcome> {
        let Dims { batch, t, heads, groups, head_size: d, .. } = self.dims;
        let (x, dx) = self.input(&[batch, groups, heads / groups * t, d], 7, 2.0, 0.0)?;
        let (cpu_rope, device_rope) = (self.rope(&Device::Cpu)?, self.rope(self.device)?);
        self.compare(
            format!("{batch}x{groups}x{}x{d}", heads / groups * t),
            || Ok(vec![fused::merge_heads(&dx, heads, Some(&device_rope.rotation(0)))?]),
            || Ok(vec![fused::merge_heads(&x, heads, Some(&cpu_rope.rotation(0)))?]),
        )
    }

    fn scores_shape(&self) -> [usize; 4] {
        let Dims { batch, t, heads, groups, .. } = self.dims;
        [batch, groups, heads / groups * t, t]
    }

    fn causal_softmax(&self) -> Result<Outcome> {
        let shape = self.scores_shape();
        let (s, ds) = self.input(&shape, 8, 8.0, 0.0)?;
        let (scale, t) = (1.0 / (self.dims.head_size as f64).sqrt(), self.dims.t);
        self.compare(
            format!("{shape:?}"),
            || Ok(vec![fused::causal_softmax(&ds, scale, t, 0)?]),
            || Ok(vec![fused::causal_softmax(&s, scale, t, 0)?]),
        )
    }

    fn causal_softmax_backward(&self) -> Result<Outcome> {
        let shape = self.scores_shape();
        let (scale, t) = (1.0 / (self.dims.head_size as f64).sqrt(), self.dims.t);
        let (s, _) = self.input(&shape, 9, 8.0, 0.0)?;
        // Real attention weights as the input, rounded through the device dtype.
        let w = fused::causal_softmax(&s, scale, t, 0)?.to_dtype(self.dtype)?;
        let dw_device = w.to_device(self.device)?;
        let w = w.to_dtype(DType::F32)?;
        let (g, dg) = self.input(&shape, 10, 1.0, 0.0)?;
        self.compare(
            format!("{shape:?}"),
            || Ok(vec![fused::causal_softmax_backward(&dw_device, &dg, scale, t, 0)?]),
            || Ok(vec![fused::causal_softmax_backward(&w, &g, scale, t, 0)?]),
        )
    }

    /// Queries, keys, values and the output's gradient at the attention shapes.
    fn attention_inputs(&self, seed: u64) -> Result<[(Tensor, Tensor); 4]> {
        let Dims { batch, t, heads, groups, head_size: d, .. } = self.dims;
        let rows = [batch, groups, heads / groups * t, d];
        let keys = [batch, groups, t, d];
        Ok([
            self.input(&rows, seed, 1.5, 0.0)?,
            self.input(&keys, seed + 1, 1.5, 0.0)?,
            self.input(&keys, seed + 2, 1.0, 0.0)?,
            self.input(&rows, seed + 3, 1.0, 0.0)?,
        ])
    }

    fn causal(&self) -> fused::Causal {
        fused::Causal { query_len: self.dims.t, first_position: 0, scale: 1.0 / (self.dims.head_size as f32).sqrt() }
    }

    fn flash_attention(&self) -> Result<Outcome> {
        let [(q, dq), (k, dk), (v, dv), _] = self.attention_inputs(30)?;
        let causal = self.causal();
        let run = |q: &Tensor, k: &Tensor, v: &Tensor| -> Result<Vec<Tensor>> {
            let (out, lse) = fused::flash_attention(q, k, v, causal)?;
            Ok(vec![out, lse])
        };
        self.compare(format!("{:?} over {:?}", q.dims(), k.dims()), || run(&dq, &dk, &dv), || run(&q, &k, &v))
    }

    fn flash_attention_backward(&self) -> Result<Outcome> {
        let [(q, dq), (k, dk), (v, dv), (g, dg)] = self.attention_inputs(34)?;
        let causal = self.causal();
        // The forward pass's output and log-sum-exp, from the CPU, rounded through the device dtype.
        let (out, lse) = fused::flash_attention(&q, &k, &v, causal)?;
        let out = out.to_dtype(self.dtype)?;
        let (out_device, lse_device) = (out.to_device(self.device)?, lse.to_device(self.device)?);
        let out = out.to_dtype(DType::F32)?;
        let run = |q: &Tensor, k: &Tensor, v: &Tensor, out: &Tensor, lse: &Tensor, g: &Tensor| -> Result<Vec<Tensor>> {
            let (dq, dk, dv) = fused::flash_attention_backward(q, k, v, out, lse, g, causal)?;
            Ok(vec![dq, dk, dv])
        };
        self.compare(
            format!("{:?} over {:?}", q.dims(), k.dims()),
            || run(&dq, &dk, &dv, &out_device, &lse_device, &dg),
            || run(&q, &k, &v, &out, &lse, &g),
        )
    }

    fn swiglu(&self) -> Result<Outcome> {
        let shape = [self.tokens(), self.dims.intermediate];
        let ((a, da), (b, db)) = (self.input(&shape, 11, 4.0, 0.0)?, self.input(&shape, 12, 2.0, 0.0)?);
        self.compare(format!("{shape:?}"), || Ok(vec![fused::swiglu(&da, &db)?]), || Ok(vec![fused::swiglu(&a, &b)?]))
    }

    fn swiglu_backward(&self) -> Result<Outcome> {
        let shape = [self.tokens(), self.dims.intermediate];
        let ((a, da), (b, db), (g, dg)) =
            (self.input(&shape, 13, 4.0, 0.0)?, self.input(&shape, 14, 2.0, 0.0)?, self.input(&shape, 15, 1.0, 0.0)?);
        let pair = |(x, y): (Tensor, Tensor)| vec![x, y];
        self.compare(
            format!("{shape:?}"),
            || Ok(pair(fused::swiglu_backward(&da, &db, &dg)?)),
            || Ok(pair(fused::swiglu_backward(&a, &b, &g)?)),
        )
    }

    fn targets(&self, count: usize, seed: u64) -> Vec<u32> {
        // Skewed like text: a few ids are very common (one bucket holds a large share).
        let mut rng = SplitMix64::new(seed);
        let vocab = self.dims.vocab as u64;
        (0..count).map(|_| if rng.next_f64() < 0.1 { 7 } else { rng.below(vocab) as u32 }).collect()
    }

    fn cross_entropy(&self) -> Result<Outcome> {
        let (n, v) = (self.tokens(), self.dims.vocab);
        let (logits, d_logits) = self.input(&[n, v], 16, 6.0, 0.0)?;
        let targets = Tensor::new(self.targets(n, 17), &Device::Cpu)?;
        let d_targets = targets.to_device(self.device)?;
        let run = |logits: &Tensor, targets: &Tensor| -> Result<Vec<Tensor>> {
            let (loss, grad) = fused::cross_entropy_with_grad(logits, targets, 1.0)?;
            Ok(vec![loss, grad])
        };
        self.compare(format!("{n}x{v}"), || run(&d_logits, &d_targets), || run(&logits, &targets))
    }

    fn embedding_backward(&self) -> Result<Outcome> {
        let (n, c, v) = (self.tokens(), self.dims.embd, self.dims.vocab);
        let (g, dg) = self.input(&[n, c], 18, 1.0, 0.0)?;
        let ids = self.targets(n, 19);
        self.compare(
            format!("{n}x{c} into {v}x{c}"),
            || Ok(vec![fused::embedding_backward(&ids, &dg, v)?]),
            || Ok(vec![fused::embedding_backward(&ids, &g, v)?]),
        )
    }

    /// AdamW on the embedding's shape from the same weights, gradient and moments.
    fn adamw(&self) -> Result<Outcome> {
        use crate::train::optimizer::{AdamW, AdamWConfig};
        let shape = [self.dims.vocab, self.dims.embd];
        let config = AdamWConfig { weight_decay: 0.1, betas: (0.9, 0.95), eps: 1e-8 };
        let step = |device: &Device| -> Result<Vec<Tensor>> {
            let (weights, _) = self.input_f32(&shape, 20, 0.02, 0.0)?;
            let (grad, _) = self.input_f32(&shape, 21, 0.001, 0.0)?;
            let params = crate::model::Parameters::from_named(vec![("w".into(), weights.to_device(device)?)])?;
            let mut optimizer = AdamW::new(config.clone(), &params)?;
            let grads = [grad.to_device(device)?];
            optimizer.step(&params, &grads, 3e-4)?; // two steps: the second starts from non-zero moments
            optimizer.step(&params, &grads, 3e-4)?;
            Ok(vec![params.get("w").clone()])
        };
        let mut outcome = self.compare(format!("{shape:?}, 2 steps"), || step(self.device), || step(&Device::Cpu))?;
        outcome.limit = F32_LIMIT;
        Ok(outcome)
    }

    fn grad_norm(&self) -> Result<Outcome> {
        let shapes = [[self.dims.vocab, self.dims.embd], [self.dims.intermediate, self.dims.embd], [1, self.dims.embd]];
        let grads = shapes.iter().enumerate().map(|(i, s)| self.input(s, 22 + i as u64, 0.01, 0.0)).collect::<Result<Vec<_>>>()?;
        let norm = |grads: Vec<Tensor>| -> Result<Vec<Tensor>> {
            let mut grads = grads;
            let norm = crate::train::optimizer::clip_grad_norm(&mut grads, f64::INFINITY)?;
            Ok(vec![Tensor::new(norm as f32, &Device::Cpu)?])
        };
        let mut outcome = self.compare(
            "3 tensors".into(),
            || norm(grads.iter().map(|(_, d)| d.clone()).collect()),
            || norm(grads.iter().map(|(c, _)| c.clone()).collect()),
        )?;
        outcome.limit = F32_LIMIT;
        Ok(outcome)
    }

    /// loss_and_grads of one micro-batch on a 2-layer model, the device (in its dtype, float32 master
    /// weights) against the CPU in float32. The error is the worst over the loss and every gradient.
    /// With `masked`, only every third position is scored, as SFT's assistant tokens are (the rows are
    /// selected before lm_head and their gradient scattered back).
    fn whole_step(&self, masked: bool) -> Result<Outcome> {
        let batch = self.step_batch(masked)?;
        let step = |device: &Device, dtype: DType| -> Result<Vec<Tensor>> {
            let model = Llama::init(step_config(), 7, device)?.with_compute_dtype(dtype);
            let (loss, grads) = model.batch_loss_and_grads(&batch, 1.0)?;
            let mut all = vec![loss.to_dtype(DType::F32)?];
            all.extend(grads);
            Ok(all)
        };
        let shape = if masked { "2 layers, 4x64 tokens, 86 scored" } else { "2 layers, 4x64 tokens" }.to_string();
        let mut outcome = self.compare(shape, || step(self.device, self.dtype), || step(&Device::Cpu, DType::F32))?;
        outcome.limit = if self.dtype == DType::BF16 { STEP_BF16_LIMIT } else { STEP_F32_LIMIT };
        Ok(outcome)
    }

    /// The whole step's flat gradient, summed in buckets during the backward pass through a one-rank
    /// NCCL group (data parallelism's path, gradient_buckets.rs), against the CPU's gradient added up
    /// alone. One rank's sums change nothing: this checks that NCCL loads, that its stream and candle's
    /// run together without losing a gradient, and that the step's numbers stay the same.
    #[cfg(feature = "cuda")]
    fn bucketed_step(&self) -> Result<Outcome> {
        use crate::train::collective::{shard_ranges, Collective};
        use crate::train::gradient_buckets::{add_into, BucketedSum, Buckets};
        use crate::train::nccl_collective::{unique_id, NcclCollective};
        let batch = self.step_batch(false)?;
        let cpu_model = Llama::init(step_config(), 7, &Device::Cpu)?;
        // The layout, and so the buckets, are the same on every device.
        let buckets = Buckets::plan(&cpu_model.params.layout(), 4096);
        let on_device = || -> Result<Vec<Tensor>> {
            let model = Llama::init(step_config(), 7, self.device)?;
            let nccl = NcclCollective::join(self.device, &unique_id()?, 0, 1, None)?;
            let grad = model.params.flat().zeros_like()?;
            let mut sum = BucketedSum::new(&buckets, &grad, &nccl);
            let loss = model.batch_loss_and_grads_into(&batch, 1.0, &mut |name, g| sum.add(name, &g))?;
            sum.finish()?;
            // A sharded optimizer's sharing, on one rank: its one shard broadcast in place, on the GPU and
            // through the host (a checkpoint's gathering), must leave it as it is.
            let one_shard = shard_ranges(grad.elem_count(), 1);
            nccl.share_shards(&grad, &one_shard)?;
            let on_host = grad.to_device(&Device::Cpu)?;
            nccl.share_shards(&on_host, &one_shard)?;
            Ok(vec![loss, grad, on_host])
        };
        let on_cpu = || -> Result<Vec<Tensor>> {
            let grad = cpu_model.params.flat().zeros_like()?;
            let (loss, grads) = cpu_model.batch_loss_and_grads(&batch, 1.0)?;
            for ((_, offset, _), g) in cpu_model.params.layout().iter().zip(&grads) {
                add_into(&grad, *offset, g)?;
            }
            Ok(vec![loss, grad.clone(), grad])
        };
        let shape = format!("2 layers, 4x64 tokens, {} buckets", buckets.ranges().len());
        let mut outcome = self.compare(shape, on_device, on_cpu)?;
        outcome.limit = STEP_F32_LIMIT;
        Ok(outcome)
    }

    /// The whole step's micro-batch: 4 windows of 64 tokens, every third position scored if `masked`.
    fn step_batch(&self, masked: bool) -> Result<TokenBatch> {
        let ids: Vec<u32> = self.targets(4 * 65, 30).into_iter().map(|t| t % 256).collect();
        let windows = Tensor::from_vec(ids, (4, 65), &Device::Cpu)?;
        let mut batch = TokenBatch::from_windows(&windows)?;
        if masked {
            let rows: Vec<u32> = (0..4 * 64).step_by(3).collect();
            let count = rows.len();
            batch.scored = Some(Tensor::from_vec(rows, count, &Device::Cpu)?);
        }
        Ok(batch)
    }
}

/// The whole step's model: 2 layers.
fn step_config() -> ModelConfig {
    ModelConfig {
        name: "kernel-check".into(),
        block_size: 64,
        vocab_size: 256,
        padded_vocab_size: 256,
        n_layer: 2,
        n_head: 4,
        n_embd: 4 * 48,
        // A head size the flash attention kernels take, so that the step runs them on a GPU.
        head_size: 48,
        n_query_groups: 2,
        rotary_percentage: 1.0,
        rope_base: 10000.0,
        norm_eps: 1e-5,
        intermediate_size: 128,
        tie_embeddings: true,
    }
}

/// Uniform values in offset ± scale, float32 on the CPU. Drawn in parallel chunks, each from its own
/// generator, so the reference shapes' hundreds of millions of values take a fraction of a second.
pub(crate) fn uniform(shape: &[usize], seed: u64, scale: f32, offset: f32) -> Result<Tensor> {
    let count: usize = shape.iter().product();
    let mut values = vec![0f32; count];
    values.par_chunks_mut(CHUNK).enumerate().for_each(|(chunk, values)| {
        let mut rng = SplitMix64::new(seed.wrapping_mul(0x9e37_79b9).wrapping_add(chunk as u64));
        values.iter_mut().for_each(|v| *v = offset + scale * (2.0 * rng.next_f64() as f32 - 1.0));
    });
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
}

/// Elements per parallel task of the check's host-side work.
const CHUNK: usize = 1 << 16;

/// The worst ‖a − b‖ / ‖b‖ over pairs of tensors (a widened to float32 and moved to the CPU). NaN
/// anywhere in `a` gives NaN, which fails any limit.
fn relative_error(a: &[Tensor], b: &[Tensor]) -> Result<f64> {
    let mut worst = 0f64;
    for (a, b) in a.iter().zip(b) {
        let a = a.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let b = b.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let (diff, norm) = a
            .par_chunks(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .map(|(a, b)| a.iter().zip(b).fold((0f64, 0f64), |(d, n), (x, y)| (d + ((x - y) as f64).powi(2), n + (*y as f64).powi(2))))
            .reduce(|| (0.0, 0.0), |(d1, n1), (d2, n2)| (d1 + d2, n1 + n2));
        let error = if norm == 0.0 { diff.sqrt() } else { (diff / norm).sqrt() };
        if error.is_nan() {
            return Ok(f64::NAN);
        }
        worst = worst.max(error);
    }
    Ok(worst)
}

fn bits_equal(a: &[Tensor], b: &[Tensor]) -> Result<bool> {
    for (a, b) in a.iter().zip(b) {
        let a = a.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let b = b.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if a.par_iter().zip(b.par_iter()).any(|(x, y)| x.to_bits() != y.to_bits()) {
            return Ok(false);
        }
    }
    Ok(true)
}
