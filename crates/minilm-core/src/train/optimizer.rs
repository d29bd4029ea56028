//! AdamW as torch.optim.AdamW computes it (decoupled weight decay on every parameter, as litgpt uses
//! it), with gradient clipping to a global norm. The moments are float32 tensors a checkpoint saves.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::adamw_cpu;
#[cfg(feature = "cuda")]
use super::adamw_cuda;
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
    /// (exp_avg, exp_avg_sq) per parameter, in the parameters' order.
    moments: Vec<(Tensor, Tensor)>,
}

impl AdamW {
    pub fn new(config: AdamWConfig, params: &Parameters) -> Result<Self> {
        let moments = params
            .iter()
            .map(|(_, var)| Ok((var.zeros_like()?.to_dtype(DType::F32)?, var.zeros_like()?.to_dtype(DType::F32)?)))
            .collect::<Result<_>>()?;
        Ok(AdamW { config, steps: 0, moments })
    }

    /// One update with learning rate `lr` from `grads` (one per parameter, in order).
    pub fn step(&mut self, params: &Parameters, grads: &[Tensor], lr: f64) -> Result<()> {
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
        for (((_, var), grad), (m, v)) in params.iter().zip(grads).zip(self.moments.iter_mut()) {
            if adamw_cpu::supported(&[var.as_tensor(), grad, m, v]) {
                adamw_cpu::update(var.as_tensor(), grad, m, v, &fused_step)?;
                continue;
            }
            #[cfg(feature = "cuda")]
            if adamw_cuda::supported(&[var.as_tensor(), grad, m, v]) {
                adamw_cuda::update(var.as_tensor(), grad, m, v, &fused_step)?;
                continue;
            }
            // Other devices and dtypes: the same update in float32 tensor ops, written back in the
            // parameter's dtype (bf16-true keeps bf16 weights, float32 moments).
            let grad = grad.to_dtype(DType::F32)?;
            *m = ((&*m * beta1)? + (&grad * (1.0 - beta1))?)?;
            *v = ((&*v * beta2)? + (grad.sqr()? * (1.0 - beta2))?)?;
            let denom = ((v.sqrt()? / bias_correction2_sqrt)? + self.config.eps)?;
            let decayed = (var.as_tensor().to_dtype(DType::F32)? * decay)?;
            var.set(&(decayed - (m.div(&denom)? * step_size)?)?.to_dtype(var.dtype())?)?;
        }
        Ok(())
    }

    pub fn save(&self, params: &Parameters, path: &Path) -> Result<()> {
        let mut tensors = HashMap::new();
        for ((name, _), (m, v)) in params.iter().zip(&self.moments) {
            tensors.insert(format!("{name}.exp_avg"), m.clone());
            tensors.insert(format!("{name}.exp_avg_sq"), v.clone());
        }
        candle_core::safetensors::save(&tensors, path)
            .map_err(|e| Error::input(path, None, format!("cannot write the optimizer state: {e}")))
    }

    pub fn load(&mut self, params: &Parameters, path: &Path, steps: u64, device: &Device) -> Result<()> {
        let mut tensors = candle_core::safetensors::load(path, device)
            .map_err(|e| Error::input(path, None, format!("cannot read the optimizer state ({e}); expected a safetensors file")))?;
        for ((name, var), moment) in params.iter().zip(self.moments.iter_mut()) {
            let mut take = |suffix: &str| -> Result<Tensor> {
                let key = format!("{name}.{suffix}");
                let t = tensors.remove(&key).ok_or_else(|| Error::input(path, None, format!("has no tensor {key}")))?;
                if t.dims() != var.dims() {
                    return Err(Error::input(path, None, format!("{key} has shape {:?}, expected {:?}", t.dims(), var.dims())));
                }
                Ok(t)
            };
            *moment = (take("exp_avg")?, take("exp_avg_sq")?);
        }
        self.steps = steps;
        Ok(())
    }
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
    let squares = grads.iter().map(|g| g.to_dtype(DType::F32)?.sqr()?.sum_all()).collect::<candle_core::Result<Vec<_>>>()?;
    let sum_of_squares = Tensor::stack(&squares, 0)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    Ok(sum_of_squares.sqrt())
}
