//! The causal softmax of attention: softmax(scale * scores) over the keys each query may see, 0 for
//! the keys after it. Replaces a scale, a mask add and candle's five-op softmax, forward and backward.

use std::ops::Range;
use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{contiguous_f32, last_dim};

/// Attention weights for `scores` (..., rows, keys), whose rows are queries at positions
/// `first_position + row % query_len` (several heads' queries may be stacked along the rows); a query
/// sees the keys at positions 0..=its own.
pub fn causal_softmax(scores: &Tensor, scale: f64, query_len: usize, first_position: usize) -> Result<Tensor> {
    let op = CausalSoftmax { scale: scale as f32, query_len, first_position, packed: None };
    #[cfg(feature = "cuda")]
    if scores.device().is_cuda() {
        return gpu::forward(&scores.contiguous()?, &op);
    }
    scores.contiguous()?.apply_op1_no_bwd(&op)
}

/// causal_softmax for rows that pack several sequences: `positions` holds each token's position within
/// its own sequence (B T values, row-major, for scores (B, ..., T, T)), and a query sees only the keys
/// of its sequence up to itself. The backward pass is causal_softmax_backward's: it only reads the
/// weights, which are 0 wherever a key was hidden. On the CPU only.
pub fn packed_causal_softmax(scores: &Tensor, scale: f64, positions: Arc<[u32]>) -> Result<Tensor> {
    let query_len = scores.dim(candle_core::D::Minus1)?;
    if scores.device().is_cuda() {
        candle_core::bail!("packed sequences are not supported on the GPU yet (the CUDA kernels take one sequence per row)");
    }
    let op = CausalSoftmax { scale: scale as f32, query_len, first_position: 0, packed: Some(positions) };
    scores.contiguous()?.apply_op1_no_bwd(&op)
}

/// The gradient of the scores given the weights causal_softmax returned and their gradient.
pub fn causal_softmax_backward(
    weights: &Tensor,
    d_weights: &Tensor,
    scale: f64,
    query_len: usize,
    first_position: usize,
) -> Result<Tensor> {
    let op = CausalSoftmaxGrad(CausalSoftmax { scale: scale as f32, query_len, first_position, packed: None });
    #[cfg(feature = "cuda")]
    if weights.device().is_cuda() {
        return gpu::backward(&weights.contiguous()?, &d_weights.contiguous()?, &op.0);
    }
    weights.contiguous()?.apply_op2_no_bwd(&d_weights.contiguous()?, &op)
}

struct CausalSoftmax {
    scale: f32,
    query_len: usize,
    first_position: usize,
    /// Each token's position within its own sequence, when rows pack several (`packed_causal_softmax`).
    packed: Option<Arc<[u32]>>,
}

impl CausalSoftmax {
    /// The keys row `row` of `rows` sees: from its sequence's first key to its own position.
    fn visible_keys(&self, row: usize, rows: usize) -> Range<usize> {
        let time = row % self.query_len;
        let end = self.first_position + time + 1;
        match &self.packed {
            Some(positions) => {
                let batch_rows = rows / (positions.len() / self.query_len);
                let b = row / batch_rows;
                time - positions[b * self.query_len + time] as usize..end
            }
            None => 0..end,
        }
    }
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "minilm-causal-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let scores = contiguous_f32(storage, layout, self.name())?;
        let keys = last_dim(layout);
        let rows = scores.len() / keys;
        let mut weights = vec![0f32; scores.len()];
        weights.par_chunks_mut(keys).zip(scores.par_chunks(keys)).enumerate().for_each(|(row, (w, s))| {
            let visible = self.visible_keys(row, rows);
            let visible = visible.start..visible.end.min(keys);
            let (w, s) = (&mut w[visible.clone()], &s[visible]);
            let max = s.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) * self.scale;
            let mut sum = 0f32;
            for (w, s) in w.iter_mut().zip(s) {
                *w = (s * self.scale - max).exp();
                sum += *w;
            }
            let inv = 1.0 / sum;
            w.iter_mut().for_each(|w| *w *= inv);
        });
        Ok((CpuStorage::F32(weights), layout.shape().clone()))
    }
}

/// d_scores = scale * w * (dw - sum(dw * w)); zero where the mask hid the key (w = 0 there).
struct CausalSoftmaxGrad(CausalSoftmax);

impl CustomOp2 for CausalSoftmaxGrad {
    fn name(&self) -> &'static str {
        "minilm-causal-softmax-grad"
    }

    fn cpu_fwd(&self, ws: &CpuStorage, wl: &Layout, dws: &CpuStorage, dwl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (w, dw) = (contiguous_f32(ws, wl, self.name())?, contiguous_f32(dws, dwl, self.name())?);
        let keys = last_dim(wl);
        let scale = self.0.scale;
        let rows = w.len() / keys;
        let mut ds = vec![0f32; w.len()];
        ds.par_chunks_mut(keys).zip(w.par_chunks(keys)).zip(dw.par_chunks(keys)).enumerate().for_each(|(row, ((ds, w), dw))| {
            let visible = self.0.visible_keys(row, rows).end.min(keys);
            let dot: f32 = w[..visible].iter().zip(dw).map(|(w, dw)| w * dw).sum();
            for ((ds, w), dw) in ds[..visible].iter_mut().zip(w).zip(dw) {
                *ds = scale * w * (dw - dot);
            }
        });
        Ok((CpuStorage::F32(ds), wl.shape().clone()))
    }
}

/// The CUDA twins, for float32 and bfloat16 scores (kernels/causal_softmax.cu).
#[cfg(feature = "cuda")]
mod gpu {
    use candle_core::{Result, Tensor};

    use super::CausalSoftmax;
    use crate::model::fused::cuda::{by_dtype, cuda_device, launch, output, tensor, view, Element, Kernel, Module};
    use crate::model::fused::launch::warp_per_row;

    pub fn forward(scores: &Tensor, op: &CausalSoftmax) -> Result<Tensor> {
        by_dtype!(scores.dtype(), run_forward(scores, op))
    }

    pub fn backward(weights: &Tensor, d_weights: &Tensor, op: &CausalSoftmax) -> Result<Tensor> {
        by_dtype!(weights.dtype(), run_backward(weights, d_weights, op))
    }

    /// (rows, keys, query_len, first_position) as the kernels take them.
    fn shape_args(x: &Tensor, op: &CausalSoftmax) -> Result<(usize, [i32; 4])> {
        let keys = x.dim(candle_core::D::Minus1)?;
        let rows = x.elem_count() / keys;
        Ok((rows, [rows as i32, keys as i32, op.query_len as i32, op.first_position as i32]))
    }

    fn run_forward<T: Element>(scores: &Tensor, op: &CausalSoftmax) -> Result<Tensor> {
        let device = cuda_device(scores)?;
        let (rows, [r, k, q, f]) = shape_args(scores, op)?;
        let (ss, sl) = scores.storage_and_layout();
        let sv = view::<T>(&ss, sl)?;
        let weights = output::<T>(&device, scores.elem_count())?;
        let kernel = Kernel::typed::<T>(&device, Module::CausalSoftmax, "causal_softmax_forward")?;
        launch!(kernel, warp_per_row(rows), &sv, &weights, &r, &k, &q, &f, &op.scale)?;
        Ok(tensor(weights, &device, scores.shape().clone()))
    }

    fn run_backward<T: Element>(weights: &Tensor, d_weights: &Tensor, op: &CausalSoftmax) -> Result<Tensor> {
        let device = cuda_device(weights)?;
        let (rows, [r, k, q, f]) = shape_args(weights, op)?;
        let ((ws, wl), (ds, dl)) = (weights.storage_and_layout(), d_weights.storage_and_layout());
        let (wv, dv) = (view::<T>(&ws, wl)?, view::<T>(&ds, dl)?);
        let d_scores = output::<T>(&device, weights.elem_count())?;
        let kernel = Kernel::typed::<T>(&device, Module::CausalSoftmax, "causal_softmax_backward")?;
        launch!(kernel, warp_per_row(rows), &wv, &dv, &d_scores, &r, &k, &q, &f, &op.scale)?;
        Ok(tensor(d_scores, &device, weights.shape().clone()))
    }
}
