//! Fused kernels, each a forward function and the backward function `backprop.rs` calls: RMSNorm,
//! moving heads into and out of attention (with RoPE), attention's batched products, the causal
//! softmax, flash-style attention (no T x T probabilities kept), SwiGLU, cross-entropy and the
//! embedding's gradient. Written with candle's differentiable
//! ops, each is a chain of 3 to 15 tensor ops, every one a pass over memory into a new tensor, and
//! candle's autograd adds a zero-filled gradient and an addition per op; fused, each is one pass.
//!
//! Each op has a float32 CPU implementation and, with the `cuda` feature, a CUDA twin with the same
//! signature (kernels/*.cu, launched through cuda.rs) for float32 and bfloat16 activations; the public
//! function picks by the input's device. Attention's batched products stay cuBLAS on the GPU (candle's
//! matmul). `layers.rs` picks these wherever `supported` says so and the composite versions elsewhere.
//! tests/core/fused.rs checks each CPU kernel against its composite version, values and gradients;
//! tests/core/model_golden.rs checks the whole model against PyTorch; the kernel check (kernel_check.rs,
//! run by scripts/gpu-check.sh) checks each CUDA twin against its CPU twin. Every kernel is
//! deterministic: work is split by rows and any sum across rows is taken in a fixed order, so a run
//! gives the same bits on any thread count, and on the GPU on every run.

mod accumulate;
mod attention;
mod batched_matmul;
mod causal_softmax;
mod cross_entropy;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
mod embedding;
mod heads;
pub mod launch;
mod rms_norm;
mod swiglu;

pub use accumulate::{accumulate, accumulate_supported};
pub use attention::{
    flash_attention, flash_attention_backward, set_flash_attention_on_cpu, use_flash_attention, AttentionPath, Causal, FLASH_HEAD_SIZES,
};
pub use batched_matmul::batched_matmul;
pub use causal_softmax::{causal_softmax, causal_softmax_backward, packed_causal_softmax};
pub use cross_entropy::{cross_entropy, cross_entropy_with_grad};
pub use embedding::{embedding_backward, Buckets};
pub use heads::{merge_heads, split_heads, Rotation};
pub use rms_norm::{add_rms_norm, rms_norm, rms_norm_backward};
pub use swiglu::{swiglu, swiglu_backward};

use candle_core::{bail, CpuStorage, DType, Device, Layout, Result, Tensor};

/// Whether the fused kernels can take `x` as an activation: float32 on the CPU; float32 or bfloat16 on
/// a GPU (their CUDA twins, built with the `cuda` feature).
pub fn supported(x: &Tensor) -> bool {
    supports(x.device(), x.dtype())
}

/// Whether the fused kernels take activations of `dtype` on `device`.
pub fn supports(device: &Device, dtype: DType) -> bool {
    match device {
        Device::Cpu => dtype == DType::F32,
        Device::Cuda(_) => cfg!(feature = "cuda") && matches!(dtype, DType::F32 | DType::BF16),
        _ => false,
    }
}

/// Whether the fused kernels can take `w` as a weight (RMSNorm's): float32 on a device they support.
pub fn supported_weight(w: &Tensor) -> bool {
    w.dtype() == DType::F32 && supported(w)
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
