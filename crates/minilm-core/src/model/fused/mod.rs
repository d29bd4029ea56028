//! Fused float32 CPU kernels, each a forward function and the backward function `backprop.rs` calls:
//! RMSNorm, moving heads into and out of attention (with RoPE), attention's batched products, the
//! causal softmax, SwiGLU and cross-entropy. Written with candle's differentiable ops, each is a
//! chain of 3 to 15 tensor ops, every one a pass over memory into a new tensor, and candle's autograd
//! adds a zero-filled gradient and an addition per op; fused, each is one parallel pass.
//!
//! `layers.rs` picks these for float32 tensors on the CPU and the composite versions everywhere else
//! (the GPU, other dtypes). tests/fused.rs checks each against its composite version, values and
//! gradients; tests/model_golden.rs checks the whole model against PyTorch. Every kernel is
//! deterministic: work is split by rows and any sum across rows is taken in a fixed order, so a run
//! gives the same bits on any thread count.

mod batched_matmul;
mod causal_softmax;
mod cross_entropy;
mod heads;
mod rms_norm;
mod swiglu;

pub use batched_matmul::batched_matmul;
pub use causal_softmax::{causal_softmax, causal_softmax_backward};
pub use cross_entropy::{cross_entropy, cross_entropy_with_grad};
pub use heads::{merge_heads, split_heads, Rotation};
pub use rms_norm::{rms_norm, rms_norm_backward};
pub use swiglu::{swiglu, swiglu_backward};

use candle_core::{bail, CpuStorage, DType, Device, Layout, Result, Tensor};

/// Whether the fused kernels can run on `x`: float32 on the CPU.
pub fn supported(x: &Tensor) -> bool {
    matches!(x.device(), Device::Cpu) && x.dtype() == DType::F32
}

/// The float32 elements of a contiguous tensor's storage.
fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{op} needs a contiguous float32 tensor"),
    }
}

/// The length of the last dimension, which every kernel here works along.
fn last_dim(layout: &Layout) -> usize {
    *layout.dims().last().unwrap_or(&1)
}
