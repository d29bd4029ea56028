//! Moving attention heads between the token-major layout of the projections, (B*T, heads*D), and the
//! head-major layout attention multiplies in, (B, heads, T, D), applying RoPE on the way in. One
//! copy replaces candle's narrow / reshape / transpose / contiguous chain.
//!
//! RoPE is litgpt's half-split form: the first N dims of a head are split into halves (a, b) and
//! rotated to (a cos - b sin, b cos + a sin); dims past N pass through.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;

/// RoPE's angles for positions start.. : `cos` and `sin` are (positions, N) row major, each row
/// holding the N/2 angles twice, as litgpt's cache does. `tables` holds the same values as tensors on
/// the model's device, for the CUDA twin.
#[derive(Clone)]
pub struct Rotation {
    pub cos: Arc<[f32]>,
    pub sin: Arc<[f32]>,
    pub tables: (Tensor, Tensor),
    pub n: usize,
    pub start: usize,
    /// Each token's own position (B T values, row-major) when several sequences are packed into a
    /// row and each restarts at 0; `start` is then unused. The CPU kernel only.
    pub packed: Option<Arc<[u32]>>,
}

impl Rotation {
    /// The position of token `time` of batch row `b` (of rows of `t` tokens).
    fn position(&self, b: usize, t: usize, time: usize) -> usize {
        match &self.packed {
            Some(positions) => positions[b * t + time] as usize,
            None => self.start + time,
        }
    }
}

/// Heads first..first+heads of x (B*T, any number of heads * D) -> (B, groups, heads/groups * T, D):
/// head-major, with the heads of a group stacked along the rows (groups = heads gives the plain
/// (B, heads, T, D)). Rotates by `rotation` if given.
pub fn split_heads(
    x: &Tensor,
    batch: usize,
    first: usize,
    heads: usize,
    groups: usize,
    d: usize,
    rotation: Option<&Rotation>,
) -> Result<Tensor> {
    let (rows, width) = x.dims2()?;
    let t = rows / batch;
    let shape = Shape::from((batch, groups, heads / groups * t, d));
    let op = Heads { batch, t, heads, d, width, first, to_head_major: true, rotation: rotation.cloned(), inverse: false, shape };
    op.apply(x)
}

/// The inverse of split_heads: (B, groups, heads/groups * T, D) -> (B*T, heads*D), rotating back by
/// `rotation` if given. So it is also split_heads' backward, and split_heads without rotation is its.
pub fn merge_heads(x: &Tensor, heads: usize, rotation: Option<&Rotation>) -> Result<Tensor> {
    let (batch, groups, stacked_rows, d) = x.dims4()?;
    let t = groups * stacked_rows / heads;
    let shape = Shape::from((batch * t, heads * d));
    let op =
        Heads { batch, t, heads, d, width: heads * d, first: 0, to_head_major: false, rotation: rotation.cloned(), inverse: true, shape };
    op.apply(x)
}

struct Heads {
    batch: usize,
    t: usize,
    heads: usize,
    d: usize,
    /// Elements per token row on the token-major side, and the first head taken from it.
    width: usize,
    first: usize,
    to_head_major: bool,
    rotation: Option<Rotation>,
    /// Rotate by the opposite angles (merging undoes the rotation of splitting).
    inverse: bool,
    /// The output's shape (its layout is fixed by `to_head_major`).
    shape: Shape,
}

impl Heads {
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        #[cfg(feature = "cuda")]
        if x.device().is_cuda() {
            if self.rotation.as_ref().is_some_and(|r| r.packed.is_some()) {
                candle_core::bail!("packed sequences are not supported on the GPU yet (the CUDA kernels take one sequence per row)");
            }
            return gpu::move_heads(&x.contiguous()?, self);
        }
        x.contiguous()?.apply_op1_no_bwd(self)
    }

    /// For an output row (D values) the offset of the input values it copies, and the token's batch
    /// row and time.
    fn source(&self, out_row: usize) -> (usize, usize, usize) {
        let (t, h) = (self.t, self.heads);
        if self.to_head_major {
            let (b, head, time) = (out_row / (h * t), out_row / t % h, out_row % t);
            ((b * t + time) * self.width + (self.first + head) * self.d, b, time)
        } else {
            let (b, time, head) = (out_row / (t * h), out_row / h % t, out_row % h);
            (((b * h + head) * t + time) * self.d, b, time)
        }
    }

    fn rotate(&self, row: &mut [f32], b: usize, time: usize) {
        let Some(r) = &self.rotation else { return };
        let half = r.n / 2;
        let position = r.position(b, self.t, time);
        let cos = &r.cos[position * r.n..][..half];
        let sin = &r.sin[position * r.n..][..half];
        let sign = if self.inverse { -1.0 } else { 1.0 };
        let (a, b) = row[..r.n].split_at_mut(half);
        for i in 0..half {
            let (ai, bi, s) = (a[i], b[i], sign * sin[i]);
            a[i] = ai * cos[i] - bi * s;
            b[i] = bi * cos[i] + ai * s;
        }
    }
}

impl CustomOp1 for Heads {
    fn name(&self) -> &'static str {
        "minilm-heads"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let mut y = vec![0f32; self.batch * self.t * self.heads * self.d];
        y.par_chunks_mut(self.d).enumerate().for_each(|(out_row, y)| {
            let (offset, b, time) = self.source(out_row);
            y.copy_from_slice(&x[offset..][..self.d]);
            self.rotate(y, b, time);
        });
        Ok((CpuStorage::F32(y), self.shape.clone()))
    }
}

/// The CUDA twin, for float32 and bfloat16 (kernels/heads.cu).
#[cfg(feature = "cuda")]
mod gpu {
    use candle_core::{Result, Tensor};

    use super::Heads;
    use crate::model::fused::cuda::{by_dtype, cuda_device, grid_stride, launch, output, tensor, view, Element, Kernel, Module};

    pub fn move_heads(x: &Tensor, op: &Heads) -> Result<Tensor> {
        by_dtype!(x.dtype(), run(x, op))
    }

    fn run<T: Element>(x: &Tensor, op: &Heads) -> Result<Tensor> {
        let device = cuda_device(x)?;
        let len = op.shape.elem_count();
        let (xs, xl) = x.storage_and_layout();
        let xv = view::<T>(&xs, xl)?;
        let y = output::<T>(&device, len)?;
        let [batch, t, heads, d, width, first] = [op.batch, op.t, op.heads, op.d, op.width, op.first].map(|v| v as i32);
        let to_head_major = op.to_head_major as i32;
        let kernel = Kernel::typed::<T>(&device, Module::Heads, "move_heads")?;
        let config = grid_stride(len);
        match &op.rotation {
            Some(r) => {
                let (cos, sin) = (r.tables.0.contiguous()?, r.tables.1.contiguous()?);
                let ((cs, cl), (ss, sl)) = (cos.storage_and_layout(), sin.storage_and_layout());
                let (cosv, sinv) = (view::<f32>(&cs, cl)?, view::<f32>(&ss, sl)?);
                let (rope_n, rope_start, sign) = (r.n as i32, r.start as i32, if op.inverse { -1f32 } else { 1f32 });
                launch!(
                    kernel,
                    config,
                    &xv,
                    &y,
                    &cosv,
                    &sinv,
                    &batch,
                    &t,
                    &heads,
                    &d,
                    &width,
                    &first,
                    &to_head_major,
                    &rope_n,
                    &rope_start,
                    &sign
                )?;
            }
            None => {
                // Null tables: with rope_n = 0 the kernel never reads them.
                let (null, rope_n, rope_start, sign) = (0u64, 0i32, 0i32, 1f32);
                launch!(
                    kernel,
                    config,
                    &xv,
                    &y,
                    &null,
                    &null,
                    &batch,
                    &t,
                    &heads,
                    &d,
                    &width,
                    &first,
                    &to_head_major,
                    &rope_n,
                    &rope_start,
                    &sign
                )?;
            }
        }
        Ok(tensor(y, &device, op.shape.clone()))
    }
}
