//! LLaMAMLP's gate: silu(a) * b, with silu(a) = a * sigmoid(a).

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;

/// Elements per parallel task: big enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 1 << 14;

pub fn swiglu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    if a.device().is_cuda() {
        return gpu::forward(&a.contiguous()?, &b.contiguous()?);
    }
    a.contiguous()?.apply_op2_no_bwd(&b.contiguous()?, &Swiglu)
}

/// The gradients (da, db) of swiglu(a, b) given dy.
pub fn swiglu_backward(a: &Tensor, b: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    let (a, dy) = (a.contiguous()?, dy.contiguous()?);
    #[cfg(feature = "cuda")]
    if a.device().is_cuda() {
        return gpu::backward(&a, &b.contiguous()?, &dy);
    }
    let da = a.apply_op3_no_bwd(&b.contiguous()?, &dy, &SwigluGateGrad)?;
    let db = a.apply_op2_no_bwd(&dy, &SwigluValueGrad)?;
    Ok((da, db))
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

struct Swiglu;

impl CustomOp2 for Swiglu {
    fn name(&self) -> &'static str {
        "minilm-swiglu"
    }

    fn cpu_fwd(&self, a_s: &CpuStorage, al: &Layout, b_s: &CpuStorage, bl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (contiguous_f32(a_s, al, self.name())?, contiguous_f32(b_s, bl, self.name())?);
        let mut y = vec![0f32; a.len()];
        y.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK)).for_each(|((y, a), b)| {
            for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
                *y = a * sigmoid(*a) * b;
            }
        });
        Ok((CpuStorage::F32(y), al.shape().clone()))
    }
}

/// da = dy * b * sigmoid(a) * (1 + a * (1 - sigmoid(a))).
struct SwigluGateGrad;

impl CustomOp3 for SwigluGateGrad {
    fn name(&self) -> &'static str {
        "minilm-swiglu-gate-grad"
    }

    fn cpu_fwd(
        &self,
        a_s: &CpuStorage,
        al: &Layout,
        b_s: &CpuStorage,
        bl: &Layout,
        dy_s: &CpuStorage,
        dyl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = contiguous_f32(a_s, al, self.name())?;
        let b = contiguous_f32(b_s, bl, self.name())?;
        let dy = contiguous_f32(dy_s, dyl, self.name())?;
        let mut da = vec![0f32; a.len()];
        da.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK)).zip(dy.par_chunks(CHUNK)).for_each(
            |(((da, a), b), dy)| {
                for (((da, a), b), dy) in da.iter_mut().zip(a).zip(b).zip(dy) {
                    let s = sigmoid(*a);
                    *da = dy * b * s * (1.0 + a * (1.0 - s));
                }
            },
        );
        Ok((CpuStorage::F32(da), al.shape().clone()))
    }
}

/// db = dy * silu(a).
struct SwigluValueGrad;

impl CustomOp2 for SwigluValueGrad {
    fn name(&self) -> &'static str {
        "minilm-swiglu-value-grad"
    }

    fn cpu_fwd(&self, a_s: &CpuStorage, al: &Layout, dy_s: &CpuStorage, dyl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, dy) = (contiguous_f32(a_s, al, self.name())?, contiguous_f32(dy_s, dyl, self.name())?);
        let mut db = vec![0f32; a.len()];
        db.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(dy.par_chunks(CHUNK)).for_each(|((db, a), dy)| {
            for ((db, a), dy) in db.iter_mut().zip(a).zip(dy) {
                *db = dy * a * sigmoid(*a);
            }
        });
        Ok((CpuStorage::F32(db), al.shape().clone()))
    }
}

/// The CUDA twins, for float32 and bfloat16 (kernels/swiglu.cu): the backward writes both gradients in
/// one pass.
#[cfg(feature = "cuda")]
mod gpu {
    use candle_core::{Result, Tensor};

    use crate::model::fused::cuda::{by_dtype, cuda_device, grid_stride, launch, output, tensor, view, Element, Kernel, Module};

    pub fn forward(a: &Tensor, b: &Tensor) -> Result<Tensor> {
        by_dtype!(a.dtype(), run_forward(a, b))
    }

    pub fn backward(a: &Tensor, b: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
        by_dtype!(a.dtype(), run_backward(a, b, dy))
    }

    fn run_forward<T: Element>(a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let device = cuda_device(a)?;
        let n = a.elem_count();
        let ((a_s, al), (b_s, bl)) = (a.storage_and_layout(), b.storage_and_layout());
        let (av, bv) = (view::<T>(&a_s, al)?, view::<T>(&b_s, bl)?);
        let y = output::<T>(&device, n)?;
        launch!(Kernel::typed::<T>(&device, Module::Swiglu, "swiglu_forward")?, grid_stride(n), &av, &bv, &y, &n)?;
        Ok(tensor(y, &device, a.shape().clone()))
    }

    fn run_backward<T: Element>(a: &Tensor, b: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
        let device = cuda_device(a)?;
        let n = a.elem_count();
        let ((a_s, al), (b_s, bl), (dys, dyl)) = (a.storage_and_layout(), b.storage_and_layout(), dy.storage_and_layout());
        let (av, bv, dyv) = (view::<T>(&a_s, al)?, view::<T>(&b_s, bl)?, view::<T>(&dys, dyl)?);
        let (da, db) = (output::<T>(&device, n)?, output::<T>(&device, n)?);
        let kernel = Kernel::typed::<T>(&device, Module::Swiglu, "swiglu_backward")?;
        launch!(kernel, grid_stride(n), &av, &bv, &dyv, &da, &db, &n)?;
        Ok((tensor(da, &device, a.shape().clone()), tensor(db, &device, a.shape().clone())))
    }
}
