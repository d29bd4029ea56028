//! AdamW's update in place on float32 CPU tensors: three parallel passes, no allocation. The tensor-op
//! version in optimizer.rs (for other devices) is a dozen passes, each into a new tensor.

use candle_core::{bail, CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Result, Tensor};
use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 15;

/// Whether `update` can run on these tensors: float32, contiguous, in CPU memory. (Not
/// `fused::supported`, which also accepts GPU tensors: the first GPU run failed on exactly that, the
/// CUDA tensors sent here instead of to adamw_cuda.)
pub fn supported(tensors: &[&Tensor]) -> bool {
    tensors.iter().all(|t| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous())
}

/// The moments' update: m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2; then the weights':
/// w = w (1 - lr wd) - step_size m / (sqrt(v) / bias_correction2_sqrt + eps).
pub fn update(weight: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor, step: &Step) -> Result<()> {
    m.inplace_op2(grad, &Moment { beta: step.beta1, square: false })?;
    v.inplace_op2(grad, &Moment { beta: step.beta2, square: true })?;
    weight.inplace_op3(m, v, step)
}

pub struct Step {
    pub beta1: f32,
    pub beta2: f32,
    pub decay: f32,
    pub step_size: f32,
    pub bias_correction2_sqrt: f32,
    pub eps: f32,
}

fn contiguous_mut<'a>(storage: &'a mut CpuStorage, layout: &Layout, op: &str) -> Result<&'a mut [f32]> {
    let Some((start, end)) = layout.contiguous_offsets() else { bail!("{op} needs contiguous tensors") };
    match storage {
        CpuStorage::F32(data) => Ok(&mut data[start..end]),
        _ => bail!("{op} needs float32 tensors"),
    }
}

fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let Some((start, end)) = layout.contiguous_offsets() else { bail!("{op} needs contiguous tensors") };
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// An exponential moving average of the gradient (or of its square).
struct Moment {
    beta: f32,
    square: bool,
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "minilm-adamw-moment"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout, gs: &CpuStorage, gl: &Layout) -> Result<()> {
        let moment = contiguous_mut(dst, dst_l, self.name())?;
        let grad = contiguous(gs, gl, self.name())?;
        let (beta, square) = (self.beta, self.square);
        moment.par_chunks_mut(CHUNK).zip(grad.par_chunks(CHUNK)).for_each(|(m, g)| {
            for (m, &g) in m.iter_mut().zip(g) {
                *m = *m * beta + (if square { g * g } else { g }) * (1.0 - beta);
            }
        });
        Ok(())
    }
}

impl InplaceOp3 for Step {
    fn name(&self) -> &'static str {
        "minilm-adamw-step"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout, ms: &CpuStorage, ml: &Layout, vs: &CpuStorage, vl: &Layout) -> Result<()> {
        let weight = contiguous_mut(dst, dst_l, self.name())?;
        let (m, v) = (contiguous(ms, ml, self.name())?, contiguous(vs, vl, self.name())?);
        weight.par_chunks_mut(CHUNK).zip(m.par_chunks(CHUNK)).zip(v.par_chunks(CHUNK)).for_each(|((w, m), v)| {
            for ((w, &m), &v) in w.iter_mut().zip(m).zip(v) {
                *w = *w * self.decay - m / (v.sqrt() / self.bias_correction2_sqrt + self.eps) * self.step_size;
            }
        });
        Ok(())
    }
}
