//! RMSNorm over the last dimension: y = x * r * w with r = 1 / sqrt(mean(x^2) + eps), optionally with
//! the residual add before it (sum = x + delta, then the norm of sum) and, in the backward pass, the
//! residual path's gradient added to dx: on the GPU each is one pass instead of two.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{contiguous_f32, last_dim};

pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    if x.device().is_cuda() {
        return gpu::rms_norm(&x.contiguous()?, &weight.contiguous()?, eps as f32);
    }
    x.contiguous()?.apply_op2_no_bwd(&weight.contiguous()?, &RmsNorm { eps: eps as f32 })
}

/// (sum, rms_norm(sum, weight)) with sum = x + delta: the residual add and the norm after it.
pub fn add_rms_norm(x: &Tensor, delta: &Tensor, weight: &Tensor, eps: f64) -> Result<(Tensor, Tensor)> {
    #[cfg(feature = "cuda")]
    if x.device().is_cuda() {
        return gpu::add_rms_norm(&x.contiguous()?, &delta.contiguous()?, &weight.contiguous()?, eps as f32);
    }
    let sum = (x + delta)?;
    let y = rms_norm(&sum, weight, eps)?;
    Ok((sum, y))
}

/// The gradients (dx, dw) of rms_norm(x, weight) given dy, with `d_residual` (the gradient reaching x
/// around the norm, through the residual stream) added to dx when given.
pub fn rms_norm_backward(x: &Tensor, weight: &Tensor, dy: &Tensor, d_residual: Option<&Tensor>, eps: f64) -> Result<(Tensor, Tensor)> {
    let (x, dy, eps) = (x.contiguous()?, dy.contiguous()?, eps as f32);
    #[cfg(feature = "cuda")]
    if x.device().is_cuda() {
        let d_residual = d_residual.map(|d| d.contiguous()).transpose()?;
        return gpu::rms_norm_backward(&x, &weight.contiguous()?, &dy, d_residual.as_ref(), eps);
    }
    let dx = x.apply_op3_no_bwd(&weight.contiguous()?, &dy, &RmsNormInputGrad { eps })?;
    let dx = match d_residual {
        Some(d) => (dx + d)?,
        None => dx,
    };
    let dw = x.apply_op2_no_bwd(&dy, &RmsNormWeightGrad { eps })?;
    Ok((dx, dw))
}

/// 1 / sqrt(mean(x^2) + eps) for one row.
fn inverse_rms(row: &[f32], eps: f32) -> f32 {
    let mean_square = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
    1.0 / (mean_square + eps).sqrt()
}

struct RmsNorm {
    eps: f32,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "minilm-rms-norm"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, xl: &Layout, ws: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (contiguous_f32(xs, xl, self.name())?, contiguous_f32(ws, wl, self.name())?);
        let c = last_dim(xl);
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(c).zip(x.par_chunks(c)).for_each(|(y, x)| {
            let r = inverse_rms(x, self.eps);
            for ((y, x), w) in y.iter_mut().zip(x).zip(w) {
                *y = x * r * w;
            }
        });
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }
}

/// dx = r * g - x * r^3 * mean(g * x), with g = dy * w.
struct RmsNormInputGrad {
    eps: f32,
}

impl CustomOp3 for RmsNormInputGrad {
    fn name(&self) -> &'static str {
        "minilm-rms-norm-input-grad"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        dys: &CpuStorage,
        dyl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(xs, xl, self.name())?;
        let w = contiguous_f32(ws, wl, self.name())?;
        let dy = contiguous_f32(dys, dyl, self.name())?;
        let c = last_dim(xl);
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(c).zip(x.par_chunks(c)).zip(dy.par_chunks(c)).for_each(|((dx, x), dy)| {
            let r = inverse_rms(x, self.eps);
            let mean_gx = x.iter().zip(dy).zip(w).map(|((x, dy), w)| dy * w * x).sum::<f32>() / c as f32;
            let correction = r * r * r * mean_gx;
            for (((dx, x), dy), w) in dx.iter_mut().zip(x).zip(dy).zip(w) {
                *dx = r * dy * w - x * correction;
            }
        });
        Ok((CpuStorage::F32(dx), xl.shape().clone()))
    }
}

/// dw = sum over rows of dy * x * r.
struct RmsNormWeightGrad {
    eps: f32,
}

impl CustomOp2 for RmsNormWeightGrad {
    fn name(&self) -> &'static str {
        "minilm-rms-norm-weight-grad"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, xl: &Layout, dys: &CpuStorage, dyl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, dy) = (contiguous_f32(xs, xl, self.name())?, contiguous_f32(dys, dyl, self.name())?);
        let c = last_dim(xl);
        // Rows are summed in order, one thread: the result must not depend on the thread count.
        let mut dw = vec![0f32; c];
        for (x, dy) in x.chunks(c).zip(dy.chunks(c)) {
            let r = inverse_rms(x, self.eps);
            for ((dw, x), dy) in dw.iter_mut().zip(x).zip(dy) {
                *dw += dy * x * r;
            }
        }
        Ok((CpuStorage::F32(dw), Shape::from(c)))
    }
}

/// The CUDA twins, for float32 and bfloat16 activations over a float32 weight (kernels/rms_norm.cu).
#[cfg(feature = "cuda")]
pub(super) mod gpu {
    use candle_core::{Result, Tensor};

    use crate::model::fused::cuda::{by_dtype, cuda_device, launch, output, tensor, view, Element, Kernel, Module};
    use crate::model::fused::launch::{rms_norm_rows, rms_norm_weight_grad};

    pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor> {
        by_dtype!(x.dtype(), forward(x, weight, eps))
    }

    pub fn add_rms_norm(x: &Tensor, delta: &Tensor, weight: &Tensor, eps: f32) -> Result<(Tensor, Tensor)> {
        by_dtype!(x.dtype(), residual_forward(x, delta, weight, eps))
    }

    pub fn rms_norm_backward(x: &Tensor, weight: &Tensor, dy: &Tensor, d_residual: Option<&Tensor>, eps: f32) -> Result<(Tensor, Tensor)> {
        by_dtype!(x.dtype(), backward(x, weight, dy, d_residual, eps))
    }

    fn residual_forward<T: Element>(x: &Tensor, delta: &Tensor, weight: &Tensor, eps: f32) -> Result<(Tensor, Tensor)> {
        let device = cuda_device(x)?;
        let cols = x.dim(candle_core::D::Minus1)?;
        let rows = x.elem_count() / cols;
        let ((xs, xl), (ds, dl), (ws, wl)) = (x.storage_and_layout(), delta.storage_and_layout(), weight.storage_and_layout());
        let (xv, dv, wv) = (view::<T>(&xs, xl)?, view::<T>(&ds, dl)?, view::<f32>(&ws, wl)?);
        let (sum, y) = (output::<T>(&device, x.elem_count())?, output::<T>(&device, x.elem_count())?);
        let cols_arg = cols as i32;
        let kernel = Kernel::typed::<T>(&device, Module::RmsNorm, "rms_norm_residual_forward")?;
        launch!(kernel, rms_norm_rows(rows), &xv, &dv, &wv, &sum, &y, &cols_arg, &eps)?;
        Ok((tensor(sum, &device, x.shape().clone()), tensor(y, &device, x.shape().clone())))
    }

    fn forward<T: Element>(x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor> {
        let device = cuda_device(x)?;
        let cols = x.dim(candle_core::D::Minus1)?;
        let rows = x.elem_count() / cols;
        let ((xs, xl), (ws, wl)) = (x.storage_and_layout(), weight.storage_and_layout());
        let (xv, wv) = (view::<T>(&xs, xl)?, view::<f32>(&ws, wl)?);
        let y = output::<T>(&device, x.elem_count())?;
        let cols_arg = cols as i32;
        let kernel = Kernel::typed::<T>(&device, Module::RmsNorm, "rms_norm_forward")?;
        launch!(kernel, rms_norm_rows(rows), &xv, &wv, &y, &cols_arg, &eps)?;
        Ok(tensor(y, &device, x.shape().clone()))
    }

    fn backward<T: Element>(x: &Tensor, weight: &Tensor, dy: &Tensor, d_residual: Option<&Tensor>, eps: f32) -> Result<(Tensor, Tensor)> {
        let device = cuda_device(x)?;
        let cols = x.dim(candle_core::D::Minus1)?;
        let rows = x.elem_count() / cols;
        let ((xs, xl), (ws, wl), (dys, dyl)) = (x.storage_and_layout(), weight.storage_and_layout(), dy.storage_and_layout());
        let (xv, wv, dyv) = (view::<T>(&xs, xl)?, view::<f32>(&ws, wl)?, view::<T>(&dys, dyl)?);
        let dx = output::<T>(&device, x.elem_count())?;
        let inverse_rms = output::<f32>(&device, rows)?;
        let (rows_arg, cols_arg) = (rows as i32, cols as i32);
        let kernel = Kernel::typed::<T>(&device, Module::RmsNorm, "rms_norm_backward_input")?;
        match d_residual {
            Some(d) => {
                let (ds, dl) = d.storage_and_layout();
                let dv = view::<T>(&ds, dl)?;
                launch!(kernel, rms_norm_rows(rows), &xv, &wv, &dyv, &dv, &dx, &inverse_rms, &cols_arg, &eps)?;
            }
            None => {
                let null = 0u64;
                launch!(kernel, rms_norm_rows(rows), &xv, &wv, &dyv, &null, &dx, &inverse_rms, &cols_arg, &eps)?;
            }
        }

        let plan = rms_norm_weight_grad(rows, cols);
        let (chunks, rows_per_chunk) = (plan.chunks as i32, plan.rows_per_chunk as i32);
        let partial = output::<f32>(&device, plan.chunks * cols)?;
        let kernel = Kernel::typed::<T>(&device, Module::RmsNorm, "rms_norm_backward_weight_partial")?;
        launch!(kernel, plan.partial, &xv, &dyv, &inverse_rms, &partial, &rows_arg, &cols_arg, &rows_per_chunk)?;
        let dw = output::<f32>(&device, cols)?;
        launch!(Kernel::load(&device, Module::RmsNorm, "sum_chunks")?, plan.sum, &partial, &dw, &chunks, &cols_arg)?;
        Ok((tensor(dx, &device, x.shape().clone()), tensor(dw, &device, cols)))
    }
}
