//! Mean cross-entropy of logits (rows, vocab) against target ids: the loss of a training step, and
//! its gradient softmax(logits) - onehot(target), without materialising log-probabilities.

use std::sync::Arc;

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{contiguous_f32, last_dim};

pub fn cross_entropy(logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    logits.contiguous()?.apply_op1_no_bwd(&CrossEntropy::new(logits, targets)?)
}

/// The gradient of the logits when the mean loss has gradient `d_loss`.
pub fn cross_entropy_backward(logits: &Tensor, targets: &[u32], d_loss: f64) -> Result<Tensor> {
    let op = CrossEntropyGrad { loss: CrossEntropy::new(logits, targets)?, d_loss: d_loss as f32 };
    logits.contiguous()?.apply_op1_no_bwd(&op)
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
        let losses: Vec<f32> = logits
            .par_chunks(vocab)
            .zip(self.targets.par_iter())
            .map(|(row, &target)| log_sum_exp(row) - row[target as usize])
            .collect();
        // Summed in row order, so the loss does not depend on the thread count.
        let mean = losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len() as f64;
        Ok((CpuStorage::F32(vec![mean as f32]), Shape::from(())))
    }
}

/// d_logits = d_loss / rows * (softmax(row) - onehot(target)).
struct CrossEntropyGrad {
    loss: CrossEntropy,
    d_loss: f32,
}

impl CustomOp1 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "minilm-cross-entropy-grad"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let logits = contiguous_f32(storage, layout, self.name())?;
        let vocab = last_dim(layout);
        let factor = self.d_loss / (logits.len() / vocab) as f32;
        let mut grad = vec![0f32; logits.len()];
        grad.par_chunks_mut(vocab).zip(logits.par_chunks(vocab)).zip(self.loss.targets.par_iter()).for_each(|((g, row), &target)| {
            let lse = log_sum_exp(row);
            for (g, v) in g.iter_mut().zip(row) {
                *g = (v - lse).exp() * factor;
            }
            g[target as usize] -= factor;
        });
        Ok((CpuStorage::F32(grad), layout.shape().clone()))
    }
}
