//! Adding a gradient into a float32 buffer in place: how the trainer accumulates micro-batches into
//! the flat gradient (one buffer laid out as the parameters', Parameters::layout) without a new sum per
//! micro-batch. The CUDA twin (kernels/optimizer.cu's accumulate) also takes bfloat16 gradients.

use candle_core::{bail, CpuStorage, DType, InplaceOp2, Layout, Result, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;

/// Elements per parallel task.
const CHUNK: usize = 1 << 15;

/// Whether `accumulate` takes these: a float32 `sum` and a gradient of the same device the fused kernels
/// support (float32 on the CPU; float32 or bfloat16 on a GPU).
pub fn accumulate_supported(sum: &Tensor, grad: &Tensor) -> bool {
    sum.dtype() == DType::F32 && super::supported(sum) && super::supported(grad) && sum.device().same_device(grad.device())
}

/// sum += grad, element by element, in place (sum may be a view into a larger buffer).
pub fn accumulate(sum: &Tensor, grad: &Tensor) -> Result<()> {
    if sum.elem_count() != grad.elem_count() {
        bail!("accumulate: {} elements into {}", grad.elem_count(), sum.elem_count());
    }
    let grad = grad.contiguous()?;
    #[cfg(feature = "cuda")]
    if sum.device().is_cuda() {
        return gpu::accumulate(sum, &grad);
    }
    sum.inplace_op2(&grad, &AddInto)
}

struct AddInto;

impl InplaceOp2 for AddInto {
    fn name(&self) -> &'static str {
        "minilm-accumulate"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout, src: &CpuStorage, src_l: &Layout) -> Result<()> {
        let grad = contiguous_f32(src, src_l, self.name())?;
        let Some((start, end)) = dst_l.contiguous_offsets() else { bail!("accumulate needs a contiguous sum") };
        let CpuStorage::F32(sum) = dst else { bail!("accumulate needs a float32 sum") };
        sum[start..end].par_chunks_mut(CHUNK).zip(grad.par_chunks(CHUNK)).for_each(|(s, g)| {
            s.iter_mut().zip(g).for_each(|(s, g)| *s += g);
        });
        Ok(())
    }
}

/// The CUDA twin (kernels/optimizer.cu), for float32 and bfloat16 gradients.
#[cfg(feature = "cuda")]
mod gpu {
    use candle_core::{Result, Tensor};

    use crate::model::fused::cuda::{by_dtype, cuda_device, launch, view, Element, Kernel, Module};
    use crate::model::fused::launch::grid_stride;

    pub fn accumulate(sum: &Tensor, grad: &Tensor) -> Result<()> {
        by_dtype!(grad.dtype(), run(sum, grad))
    }

    fn run<T: Element>(sum: &Tensor, grad: &Tensor) -> Result<()> {
        let device = cuda_device(sum)?;
        let n = sum.elem_count();
        // The kernel writes the sum through this view; nothing else uses the gradient buffer while the
        // step accumulates into it (its readers are queued on the same stream).
        let ((ss, sl), (gs, gl)) = (sum.storage_and_layout(), grad.storage_and_layout());
        let (sv, gv) = (view::<f32>(&ss, sl)?, view::<T>(&gs, gl)?);
        launch!(Kernel::typed::<T>(&device, Module::Optimizer, "accumulate")?, grid_stride(n), &sv, &gv, &n)
    }
}
