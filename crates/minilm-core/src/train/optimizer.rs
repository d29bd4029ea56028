//! AdamW as torch.optim.AdamW computes it (decoupled weight decay on every parameter, as litgpt uses
//! it), with gradient clipping to a global norm. The moments are float32 tensors a checkpoint saves.
//! Data-parallel ranks may shard them (ZeRO-1, as DeepSpeed's stage 1 and PyTorch's
//! ZeroRedundancyOptimizer do): each rank keeps and updates its shard of the flat buffer alone, and the
//! ranks then share the weights they updated (the trainer does, through its Collective).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::adamw_cpu;
#[cfg(feature = "cuda")]
use super::adamw_cuda;
use super::collective::{shard_ranges, Collective};
use crate::error::{Error, Result};
use crate::model::Parameters;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub weight_decay: f64,
    pub betas: (f64, f64),
    pub eps: f64,
}

pub struct AdamW {
    pub config: AdamWConfig,
    /// Optimizer steps taken; bias correction uses it.
    pub steps: u64,
    /// The ranks' shards of the flat buffer and which one is this optimizer's; one shard, the whole
    /// buffer, unless sharded.
    shards: Vec<Range<usize>>,
    rank: usize,
    /// exp_avg and exp_avg_sq of this optimizer's shard, float32, laid out as the parameters' flat buffer.
    m: Tensor,
    v: Tensor,
}

impl AdamW {
    pub fn new(config: AdamWConfig, params: &Parameters) -> Result<Self> {
        let len = params.flat().elem_count();
        let zeros = || Tensor::zeros(len, DType::F32, params.flat().device());
        Ok(AdamW { config, steps: 0, shards: shard_ranges(len, 1), rank: 0, m: zeros()?, v: zeros()? })
    }

    /// From now on keeps and updates rank `rank`'s shard of `world` alone (shard_ranges), from the whole.
    pub fn shard(&mut self, rank: usize, world: usize) -> Result<()> {
        if self.shards.len() != 1 {
            return Err(Error::usage("the optimizer's state is sharded already"));
        }
        self.shards = shard_ranges(self.m.elem_count(), world);
        self.rank = rank;
        let own = self.own();
        // Copies, so that the whole moments' memory is freed.
        self.m = self.m.narrow(0, own.start, own.len())?.copy()?;
        self.v = self.v.narrow(0, own.start, own.len())?.copy()?;
        Ok(())
    }

    /// Every rank's shard when the state is sharded (the weights each rank updated, for the ranks to
    /// share after a step); None when this optimizer updates the whole buffer.
    pub fn shards(&self) -> Option<&[Range<usize>]> {
        (self.shards.len() > 1).then_some(&self.shards)
    }

    /// How many values this optimizer updates and keeps the moments of.
    pub fn shard_len(&self) -> usize {
        self.own().len()
    }

    /// The part of the flat buffer this optimizer updates.
    fn own(&self) -> Range<usize> {
        self.shards[self.rank].clone()
    }

    /// One update with learning rate `lr` from `grads` (one per parameter, in order), gathered into one
    /// flat gradient first.
    pub fn step(&mut self, params: &Parameters, grads: &[Tensor], lr: f64) -> Result<()> {
        let flat = flat_gradient(grads, params.flat().dtype())?;
        self.step_flat(params, &flat, lr)
    }

    /// One update over the whole flat buffer: `grad` is laid out as the parameters' (Parameters::layout).
    pub fn step_flat(&mut self, params: &Parameters, grad: &Tensor, lr: f64) -> Result<()> {
        self.steps += 1;
        let (beta1, beta2) = self.config.betas;
        let bias_correction1 = 1.0 - beta1.powi(self.steps as i32);
        let bias_correction2_sqrt = (1.0 - beta2.powi(self.steps as i32)).sqrt();
        let step_size = lr / bias_correction1;
        let decay = 1.0 - lr * self.config.weight_decay;
        // The same constants in float32, for the fused updates.
        let fused_step = adamw_cpu::Step {
            beta1: beta1 as f32,
            beta2: beta2 as f32,
            decay: decay as f32,
            step_size: step_size as f32,
            bias_correction2_sqrt: bias_correction2_sqrt as f32,
            eps: self.config.eps as f32,
        };
        // This optimizer's shard (all of it, unsharded): views into the buffers, updated in place.
        let own = self.own();
        let all_weights = params.flat().as_tensor();
        let weights = &all_weights.narrow(0, own.start, own.len())?;
        let grad = &grad.narrow(0, own.start, own.len())?;
        let (m, v) = (&self.m, &self.v);
        if adamw_cpu::supported(&[weights, grad, m, v]) {
            return Ok(adamw_cpu::update(weights, grad, m, v, &fused_step)?);
        }
        #[cfg(feature = "cuda")]
        if adamw_cuda::supported(&[weights, grad, m, v]) {
            return Ok(adamw_cuda::update(weights, grad, m, v, &fused_step)?);
        }
        // Other devices and dtypes: the same update in float32 tensor ops, written back in the
        // parameters' dtype (bf16-true keeps bf16 weights, float32 moments).
        let grad = grad.to_dtype(DType::F32)?;
        self.m = ((&self.m * beta1)? + (&grad * (1.0 - beta1))?)?;
        self.v = ((&self.v * beta2)? + (grad.sqr()? * (1.0 - beta2))?)?;
        let denom = ((self.v.sqrt()? / bias_correction2_sqrt)? + self.config.eps)?;
        let decayed = (weights.to_dtype(DType::F32)? * decay)?;
        all_weights.slice_set(&(decayed - (self.m.div(&denom)? * step_size)?)?.to_dtype(weights.dtype())?, 0, own.start)?;
        Ok(())
    }

    /// Writes the moments by parameter name (`NAME.exp_avg`, `NAME.exp_avg_sq`), one tensor each, as
    /// checkpoints have always stored them, to `path`. Sharded, every rank calls it at the same point,
    /// with `collective`, to gather the shards; the rank that writes passes the path, the others None.
    /// The shards are gathered in host memory, never the GPU's, whose room the sharding was for.
    pub fn save(&self, params: &Parameters, path: Option<&Path>, collective: Option<&dyn Collective>) -> Result<()> {
        let (m, v) = match (self.shards(), collective) {
            (None, _) => (self.m.clone(), self.v.clone()),
            (Some(shards), Some(collective)) => {
                let whole = |own: &Tensor| -> Result<Tensor> {
                    let all = Tensor::zeros(params.flat().elem_count(), DType::F32, &Device::Cpu)?;
                    all.slice_set(&own.to_device(&Device::Cpu)?, 0, self.own().start)?;
                    collective.share_shards(&all, shards)?;
                    Ok(all)
                };
                (whole(&self.m)?, whole(&self.v)?)
            }
            (Some(_), None) => return Err(Error::usage("a sharded optimizer's state is saved with its ranks")),
        };
        let Some(path) = path else { return Ok(()) };
        let mut tensors = HashMap::new();
        for (name, offset, shape) in params.layout() {
            let count = shape.iter().product();
            tensors.insert(format!("{name}.exp_avg"), m.narrow(0, offset, count)?.reshape(shape)?);
            tensors.insert(format!("{name}.exp_avg_sq"), v.narrow(0, offset, count)?.reshape(shape)?);
        }
        candle_core::safetensors::save(&tensors, path)
            .map_err(|e| Error::input(path, None, format!("cannot write the optimizer state: {e}")))
    }

    pub fn load(&mut self, params: &Parameters, path: &Path, steps: u64, device: &Device) -> Result<()> {
        let mut tensors = candle_core::safetensors::load(path, device)
            .map_err(|e| Error::input(path, None, format!("cannot read the optimizer state ({e}); expected a safetensors file")))?;
        let (mut m, mut v) = (Vec::new(), Vec::new());
        for (name, _, shape) in params.layout() {
            let mut take = |suffix: &str| -> Result<Tensor> {
                let key = format!("{name}.{suffix}");
                let t = tensors.remove(&key).ok_or_else(|| Error::input(path, None, format!("has no tensor {key}")))?;
                if t.dims() != shape {
                    return Err(Error::input(path, None, format!("{key} has shape {:?}, expected {shape:?}", t.dims())));
                }
                Ok(t.to_dtype(DType::F32)?.flatten_all()?)
            };
            m.push(take("exp_avg")?);
            v.push(take("exp_avg_sq")?);
        }
        // The whole state is in every checkpoint, whatever the world size it was saved at; a sharded
        // optimizer keeps its shard of it.
        let own = self.own();
        self.m = Tensor::cat(&m, 0)?.narrow(0, own.start, own.len())?.copy()?;
        self.v = Tensor::cat(&v, 0)?.narrow(0, own.start, own.len())?.copy()?;
        self.steps = steps;
        Ok(())
    }
}

/// Per-parameter gradients gathered into one flat buffer laid out as the parameters' (in `dtype`).
pub fn flat_gradient(grads: &[Tensor], dtype: DType) -> Result<Tensor> {
    let pieces = grads.iter().map(|g| g.to_dtype(dtype)?.flatten_all()).collect::<candle_core::Result<Vec<_>>>()?;
    Ok(Tensor::cat(&pieces, 0)?)
}

/// Scales `grads` in place so that their global L2 norm is at most `max_norm` (torch's
/// clip_grad_norm_: factor max_norm / (norm + 1e-6), never above 1). Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let norm = global_norm(grads)?;
    let factor = max_norm / (norm + 1e-6);
    if factor < 1.0 {
        for g in grads.iter_mut() {
            *g = (&*g * factor)?;
        }
    }
    Ok(norm)
}

/// The L2 norm of all gradients together, summed on their device and read back once: on a GPU each
/// read waits for all queued work.
fn global_norm(grads: &[Tensor]) -> Result<f64> {
    #[cfg(feature = "cuda")]
    if grads.first().is_some_and(|g| g.device().is_cuda()) {
        return Ok(adamw_cuda::global_norm(grads)?);
    }
    if grads.iter().all(|g| crate::model::fused::supported(g) && g.device().is_cpu()) {
        return cpu_norm(grads);
    }
    let squares = grads.iter().map(|g| g.to_dtype(DType::F32)?.sqr()?.sum_all()).collect::<candle_core::Result<Vec<_>>>()?;
    let sum_of_squares = Tensor::stack(&squares, 0)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    Ok(sum_of_squares.sqrt())
}

/// The norm of float32 CPU gradients in one read: float64 sums of fixed chunks, added in order, so the
/// result does not depend on the thread count (and a flat gradient of 10^8 values keeps its precision).
fn cpu_norm(grads: &[Tensor]) -> Result<f64> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    let mut sum = 0f64;
    for grad in grads {
        let grad = grad.contiguous()?;
        let (storage, layout) = grad.storage_and_layout();
        let candle_core::Storage::Cpu(storage) = &*storage else { unreachable!("checked by the caller") };
        let (start, end) = layout.contiguous_offsets().expect("made contiguous above");
        let values = &storage.as_slice::<f32>()?[start..end];
        let partial: Vec<f64> = values.par_chunks(CHUNK).map(|c| c.iter().map(|&x| x as f64 * x as f64).sum()).collect();
        sum += partial.iter().sum::<f64>();
    }
    Ok(sum.sqrt())
}
