//! Batched matrix products for attention, (..., m, k) x (..., k, n), with either side possibly a
//! transposed view. Candle runs each product of a batch in turn, split across threads; attention's
//! products are small (a few MFLOP each), and splitting each one cost a third of its speed. Here
//! each thread takes whole products of the batch. On a GPU the twin is cuBLAS's strided batched GEMM
//! (candle's matmul), which already is the right kernel.

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

pub fn batched_matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.device().is_cuda() {
        return a.matmul(b);
    }
    a.apply_op2_no_bwd(b, &BatchedMatmul)
}

/// How to walk one operand: the batch's element stride and each matrix's row and column strides.
struct Strides {
    batch: usize,
    row: isize,
    column: isize,
    offset: usize,
}

/// The operand's strides if all its leading dimensions fold into one batch stride.
fn strides(layout: &Layout) -> Option<Strides> {
    let (dims, stride) = (layout.dims(), layout.stride());
    let rank = dims.len();
    if rank < 3 {
        return None;
    }
    let batch = stride[rank - 3];
    for i in 0..rank - 3 {
        if dims[i] > 1 && stride[i] != stride[i + 1] * dims[i + 1] {
            return None;
        }
    }
    Some(Strides { batch, row: stride[rank - 2] as isize, column: stride[rank - 1] as isize, offset: layout.start_offset() })
}

struct BatchedMatmul;

impl CustomOp2 for BatchedMatmul {
    fn name(&self) -> &'static str {
        "minilm-batched-matmul"
    }

    fn cpu_fwd(&self, a_s: &CpuStorage, al: &Layout, b_s: &CpuStorage, bl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (a_s.as_slice::<f32>()?, b_s.as_slice::<f32>()?);
        let (ad, bd) = (al.dims(), bl.dims());
        let rank = ad.len();
        if rank != bd.len() || ad[..rank - 2] != bd[..rank - 2] || ad[rank - 1] != bd[rank - 2] {
            bail!("{}: cannot multiply {ad:?} by {bd:?}", self.name());
        }
        let (Some(sa), Some(sb)) = (strides(al), strides(bl)) else {
            bail!("{}: operands' batch dimensions must be contiguous", self.name());
        };
        let (m, k, n) = (ad[rank - 2], ad[rank - 1], bd[rank - 1]);
        let batches: usize = ad[..rank - 2].iter().product();
        let mut out = vec![0f32; batches * m * n];
        out.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| {
            // SAFETY: the strides come from the operands' layouts, so every element read lies
            // within their storage, and `c` holds exactly one m x n row-major product.
            unsafe {
                gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr().add(sa.offset + i * sa.batch),
                    sa.column,
                    sa.row,
                    b.as_ptr().add(sb.offset + i * sb.batch),
                    sb.column,
                    sb.row,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                )
            }
        });
        let mut shape = ad.to_vec();
        shape[rank - 1] = n;
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}
