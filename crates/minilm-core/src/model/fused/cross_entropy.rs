//! Mean cross-entropy of logits (rows, vocab) against target ids, and for training the gradient
//! softmax(logits) - onehot(target) with it, without materialising log-probabilities.

use std::sync::Arc;

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Storage, Tensor};
use rayon::prelude::*;

use super::{contiguous_f32, last_dim};

/// The mean loss (a float32 scalar on the logits' device) of `logits` (rows, vocab) against `targets`
/// (rows of u32 ids, on the same device).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    if logits.device().is_cuda() {
        return Ok(gpu::cross_entropy(&logits.contiguous()?, &targets.contiguous()?, None)?.0);
    }
    let targets = targets.to_vec1::<u32>()?;
    logits.contiguous()?.apply_op1_no_bwd(&CrossEntropy::new(logits, &targets)?)
}

/// The mean loss (as `cross_entropy` returns it) and the gradient of the logits when the mean loss has
/// gradient `d_loss`, in one pass: each row's exponentials serve both the loss and the softmax.
pub fn cross_entropy_with_grad(logits: &Tensor, targets: &Tensor, d_loss: f64) -> Result<(Tensor, Tensor)> {
    #[cfg(feature = "cuda")]
    if logits.device().is_cuda() {
        let (loss, grad) = gpu::cross_entropy(&logits.contiguous()?, &targets.contiguous()?, Some(d_loss))?;
        return Ok((loss, grad.expect("asked for")));
    }
    let targets = targets.to_vec1::<u32>()?;
    let targets = targets.as_slice();
    CrossEntropy::new(logits, targets)?;
    let logits = logits.contiguous()?;
    let (storage, layout) = logits.storage_and_layout();
    let Storage::Cpu(storage) = &*storage else { bail!("cross_entropy_with_grad runs on the CPU") };
    let x = contiguous_f32(storage, layout, "cross_entropy_with_grad")?;
    let vocab = last_dim(layout);
    let factor = d_loss as f32 / targets.len() as f32;
    let mut grad = vec![0f32; x.len()];
    let losses: Vec<f32> = grad
        .par_chunks_mut(vocab)
        .zip(x.par_chunks(vocab))
        .zip(targets.par_iter())
        .map(|((g, row), &target)| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0f32;
            for (g, v) in g.iter_mut().zip(row) {
                *g = (v - max).exp();
                sum += *g;
            }
            let scale = factor / sum;
            g.iter_mut().for_each(|g| *g *= scale);
            g[target as usize] -= factor;
            max + sum.ln() - row[target as usize]
        })
        .collect();
    // Summed in row order, so the loss does not depend on the thread count.
    let mean = losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len() as f64;
    Ok((Tensor::new(mean as f32, logits.device())?, Tensor::from_vec(grad, layout.shape(), logits.device())?))
}

/// log(sum(exp(row))), computed stably.
fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
}

struct CrossEntropy {
    targets: Arc<[u32]>,
}

impl CrossEntropy {
    fn new(logits: &Tensor, targets: &[u32]) -> Result<Self> {
        let (rows, vocab) = logits.dims2()?;
        if targets.len() != rows {
            bail!("cross_entropy: {} targets for {rows} rows of logits", targets.len());
        }
        if let Some(bad) = targets.iter().find(|&&t| t as usize >= vocab) {
            bail!("cross_entropy: target {bad} is outside the vocabulary of {vocab}");
        }
        Ok(CrossEntropy { targets: targets.into() })
    }
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "minilm-cross-entropy"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let logits = contiguous_f32(storage, layout, self.name())?;
        let vocab = last_dim(layout);
        let losses: Vec<f32> =
            logits.par_chunks(vocab).zip(self.targets.par_iter()).map(|(row, &target)| log_sum_exp(row) - row[target as usize]).collect();
        // Summed in row order, so the loss does not depend on the thread count.
        let mean = losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len() as f64;
        Ok((CpuStorage::F32(vec![mean as f32]), Shape::from(())))
    }
}

/// The CUDA twin, for float32 and bfloat16 logits (kernels/cross_entropy.cu). Targets are not checked
/// on the host (that would wait for the GPU); an id outside the vocabulary gives a NaN loss instead.
/// The trainer checks every id against the vocabulary when it reads the windows.
#[cfg(feature = "cuda")]
mod gpu {
    use candle_core::{Result, Tensor};

    use crate::model::fused::cuda::{by_dtype, cuda_device, launch, output, tensor, view, Element, Kernel, Module};
    use crate::model::fused::launch::{self, cross_entropy_rows};

    /// The mean loss, and with `d_loss` the logits' gradient.
    pub fn cross_entropy(logits: &Tensor, targets: &Tensor, d_loss: Option<f64>) -> Result<(Tensor, Option<Tensor>)> {
        by_dtype!(logits.dtype(), run(logits, targets, d_loss))
    }

    fn run<T: Element>(logits: &Tensor, targets: &Tensor, d_loss: Option<f64>) -> Result<(Tensor, Option<Tensor>)> {
        let device = cuda_device(logits)?;
        let (rows, vocab) = logits.dims2()?;
        if targets.elem_count() != rows {
            candle_core::bail!("cross_entropy: {} targets for {rows} rows of logits", targets.elem_count());
        }
        let ((ls, ll), (ts, tl)) = (logits.storage_and_layout(), targets.storage_and_layout());
        let (lv, tv) = (view::<T>(&ls, ll)?, view::<u32>(&ts, tl)?);
        let losses = output::<f32>(&device, rows)?;
        let kernel = Kernel::typed::<T>(&device, Module::CrossEntropy, "cross_entropy")?;
        let vocab_arg = vocab as i32;
        let grad = match d_loss {
            Some(d_loss) => {
                let grad = output::<T>(&device, rows * vocab)?;
                let factor = (d_loss / rows as f64) as f32;
                launch!(kernel, cross_entropy_rows(rows), &lv, &tv, &losses, &grad, &vocab_arg, &factor)?;
                Some(tensor(grad, &device, (rows, vocab)))
            }
            None => {
                let (null, factor) = (0u64, 0f32);
                launch!(kernel, cross_entropy_rows(rows), &lv, &tv, &losses, &null, &vocab_arg, &factor)?;
                None
            }
        };
        let mean = output::<f32>(&device, 1)?;
        let rows_arg = rows as i32;
        launch!(Kernel::load(&device, Module::CrossEntropy, "mean")?, launch::mean(), &losses, &mean, &rows_arg)?;
        Ok((tensor(mean, &device, ()), grad))
    }
}
