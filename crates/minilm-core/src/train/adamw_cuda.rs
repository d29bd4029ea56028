//! AdamW's update and the global gradient norm on the GPU (kernels/optimizer.cu), for float32
//! parameters: one pass per parameter for the update (the tensor-op version is a dozen), and for the
//! norm one pass per gradient into fixed partial sums plus one final sum, read back once.

use candle_core::{DType, Result, Tensor};

use super::adamw_cpu::Step;
use crate::model::fused::cuda::{cuda_device, launch, output, view, Kernel, Module};
use crate::model::fused::launch::{grid_stride, single_thread, sum_squares, NORM_BLOCKS as BLOCKS};

/// Whether `update` can run on these tensors: float32, contiguous, on a GPU.
pub fn supported(tensors: &[&Tensor]) -> bool {
    tensors.iter().all(|t| t.device().is_cuda() && t.dtype() == DType::F32 && t.is_contiguous())
}

/// m, v and the weight updated in one pass, as adamw_cpu::update computes them.
pub fn update(weight: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor, step: &Step) -> Result<()> {
    let device = cuda_device(weight)?;
    let n = weight.elem_count();
    // The kernel writes the weight and both moments through these views. Nothing else holds them
    // during a step (the optimizer owns the moments; the weights' readers are queued on the same stream,
    // so they run before or after, never during).
    let [(ws, wl), (gs, gl), (ms, ml), (vs, vl)] = [weight, grad, m, v].map(|t| t.storage_and_layout());
    let (wv, gv, mv, vv) = (view::<f32>(&ws, wl)?, view::<f32>(&gs, gl)?, view::<f32>(&ms, ml)?, view::<f32>(&vs, vl)?);
    let kernel = Kernel::load(&device, Module::Optimizer, "adamw")?;
    launch!(
        kernel,
        grid_stride(n),
        &wv,
        &gv,
        &mv,
        &vv,
        &n,
        &step.beta1,
        &step.beta2,
        &step.decay,
        &step.step_size,
        &step.bias_correction2_sqrt,
        &step.eps
    )
}

/// The L2 norm of all gradients together (float32 or bfloat16, on one GPU).
pub fn global_norm(grads: &[Tensor]) -> Result<f64> {
    let device = cuda_device(&grads[0])?;
    let partial = output::<f32>(&device, grads.len() * BLOCKS)?;
    for (i, grad) in grads.iter().enumerate() {
        let grad = grad.contiguous()?;
        let n = grad.elem_count();
        let (gs, gl) = grad.storage_and_layout();
        let slot = partial.slice(i * BLOCKS..(i + 1) * BLOCKS);
        let config = sum_squares();
        match grad.dtype() {
            DType::F32 => {
                let values = view::<f32>(&gs, gl)?;
                launch!(Kernel::load(&device, Module::Optimizer, "sum_squares_f32")?, config, &values, &n, &slot)?
            }
            DType::BF16 => {
                let values = view::<half::bf16>(&gs, gl)?;
                launch!(Kernel::load(&device, Module::Optimizer, "sum_squares_bf16")?, config, &values, &n, &slot)?
            }
            other => candle_core::bail!("global_norm takes float32 or bfloat16 gradients, not {other:?}"),
        }
    }
    let norm = output::<f32>(&device, 1)?;
    let count = (grads.len() * BLOCKS) as i32;
    launch!(Kernel::load(&device, Module::Optimizer, "root_of_sum")?, single_thread(), &partial, &count, &norm)?;
    Ok(device.clone_dtoh(&norm)?[0] as f64)
}
