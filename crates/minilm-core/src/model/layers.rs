//! The building blocks of the forward pass. Each runs a fused kernel with its own backward (`fused`)
//! where one exists for the tensors' device and dtype (float32 on the CPU; float32 and bfloat16 on a GPU
//! in the CUDA build) and candle's differentiable ops (`composite`) everywhere else.

use std::sync::Arc;

use candle_core::{Device, Result, Tensor};

use super::{composite, fused};

/// y = x W^T for x (..., in) and W (out, in), as torch.nn.Linear without bias.
pub fn linear(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    if x.rank() == 2 {
        return x.matmul(&weight.t()?);
    }
    let dims = x.dims();
    let (rows, features) = (dims[..dims.len() - 1].iter().product::<usize>(), dims[dims.len() - 1]);
    let y = x.reshape((rows, features))?.matmul(&weight.t()?)?;
    let mut out_dims = dims.to_vec();
    *out_dims.last_mut().unwrap() = weight.dim(0)?;
    y.reshape(out_dims)
}

/// Attention's batched products (..., m, k) x (..., k, n); either side may be a transposed view.
pub fn batched_matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused::supported(a) && fused::supported(b) {
        fused::batched_matmul(a, b)
    } else {
        a.matmul(b)
    }
}

/// RMSNorm over the last dimension, in float32 as litgpt computes it: x * rsqrt(mean(x^2) + eps) * w.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    if fused::supported(x) && fused::supported_weight(weight) {
        fused::rms_norm(x, weight, eps)
    } else {
        composite::rms_norm(x, weight, eps)
    }
}

/// (sum, rms_norm(sum)) with sum = x + delta: the residual add and the norm after it, in one pass where
/// the fused kernels run.
pub fn add_rms_norm(x: &Tensor, delta: &Tensor, weight: &Tensor, eps: f64) -> Result<(Tensor, Tensor)> {
    if fused::supported(x) && fused::supported(delta) && fused::supported_weight(weight) {
        fused::add_rms_norm(x, delta, weight, eps)
    } else {
        let sum = (x + delta)?;
        let y = composite::rms_norm(&sum, weight, eps)?;
        Ok((sum, y))
    }
}

/// Attention weights: softmax(scale * scores) over the keys at or before each query's position.
/// Rows of `scores` (..., rows, keys) are queries at positions first_position + row % query_len. With
/// `packing`, each query sees only the keys of its own sequence.
pub fn causal_softmax(scores: &Tensor, scale: f64, query_len: usize, first_position: usize, packing: Option<&Packing>) -> Result<Tensor> {
    match packing {
        Some(packing) if fused::supported(scores) => fused::packed_causal_softmax(scores, scale, packing.positions.clone()),
        Some(packing) => composite::packed_causal_softmax(scores, scale, &packing.positions_on(scores.device())?),
        None if fused::supported(scores) => fused::causal_softmax(scores, scale, query_len, first_position),
        None => composite::causal_softmax(scores, scale, query_len, first_position),
    }
}

/// Several sequences packed into each row of a batch (packed SFT), each token's position within its
/// own sequence, row-major (B T values). Attention stays inside each sequence and RoPE restarts at
/// its first token, so every sequence is computed as if it were alone.
#[derive(Clone, Debug)]
pub struct Packing {
    pub positions: Arc<[u32]>,
}

impl Packing {
    pub fn positions_on(&self, device: &Device) -> Result<Tensor> {
        Tensor::from_slice(&self.positions, self.positions.len(), device)
    }
}

/// LLaMAMLP's gate: silu(a) * b.
pub fn swiglu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused::supported(a) && fused::supported(b) {
        fused::swiglu(a, b)
    } else {
        composite::swiglu(a, b)
    }
}

/// Mean cross-entropy of logits (rows, vocab) against target ids (rows).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if fused::supported(logits) {
        fused::cross_entropy(logits, targets)
    } else {
        composite::cross_entropy(logits, targets)
    }
}

/// Heads first..first+heads of x (B*T, any number of heads * D) -> (B, groups, heads/groups * T, D):
/// attention's head-major layout, the heads of a group stacked along the rows. With `rotation`, the
/// heads are rotated by RoPE for its positions.
pub fn split_heads(
    x: &Tensor,
    batch: usize,
    first: usize,
    heads: usize,
    groups: usize,
    d: usize,
    rotation: Option<&fused::Rotation>,
) -> Result<Tensor> {
    let rotation = rotation.filter(|r| r.n > 0);
    if fused::supported(x) {
        return fused::split_heads(x, batch, first, heads, groups, d, rotation);
    }
    let t = x.dim(0)? / batch;
    let mut y = x.narrow(1, first * d, heads * d)?.reshape((batch, t, heads, d))?.transpose(1, 2)?.contiguous()?;
    if let Some(r) = rotation {
        let (cos, sin) = &r.tables;
        y = match &r.packed {
            None => composite::rope(&y, &cos.narrow(0, r.start, t)?, &sin.narrow(0, r.start, t)?)?,
            Some(positions) => {
                // (B, 1, T, N): each row's own angles, broadcast over the heads.
                let positions = Tensor::from_slice(positions, positions.len(), cos.device())?;
                let angles = |table: &Tensor| table.index_select(&positions, 0)?.reshape((batch, 1, t, r.n));
                composite::rope(&y, &angles(cos)?, &angles(sin)?)?
            }
        };
    }
    y.reshape((batch, groups, heads / groups * t, d))
}

/// The inverse of split_heads (without RoPE): (B, groups, heads/groups * T, D) -> (B*T, heads*D).
pub fn merge_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    if fused::supported(x) {
        return fused::merge_heads(x, heads, None);
    }
    let (batch, groups, stacked, d) = x.dims4()?;
    let t = groups * stacked / heads;
    x.reshape((batch, heads, t, d))?.transpose(1, 2)?.reshape((batch * t, heads * d))
}

/// cos and sin of RoPE's angles for positions 0..P, each (P, N): litgpt's cache, with the N/2
/// frequencies repeated twice to match the half-split rotation.
#[derive(Clone)]
pub struct RopeCache {
    n: usize,
    cos: Tensor,
    sin: Tensor,
    /// The same values on the host, for the fused kernel.
    cos_values: Arc<[f32]>,
    sin_values: Arc<[f32]>,
}

impl RopeCache {
    pub fn new(n_elem: usize, base: f64, positions: usize, device: &Device) -> Result<Self> {
        // float32 throughout, as litgpt builds it.
        let half = n_elem / 2;
        let theta: Vec<f32> = (0..half).map(|i| 1.0 / (base as f32).powf((2 * i) as f32 / n_elem as f32)).collect();
        let mut cos = Vec::with_capacity(positions * n_elem);
        let mut sin = Vec::with_capacity(positions * n_elem);
        for t in 0..positions {
            for _ in 0..2 {
                for &f in &theta {
                    let angle = t as f32 * f;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        Ok(RopeCache {
            n: n_elem,
            cos: Tensor::from_slice(&cos, (positions, n_elem), device)?,
            sin: Tensor::from_slice(&sin, (positions, n_elem), device)?,
            cos_values: cos.into(),
            sin_values: sin.into(),
        })
    }

    /// The rotation for positions start.. of every row.
    pub fn rotation(&self, start: usize) -> fused::Rotation {
        let tables = (self.cos.clone(), self.sin.clone());
        fused::Rotation { cos: self.cos_values.clone(), sin: self.sin_values.clone(), tables, n: self.n, start, packed: None }
    }

    /// The rotation for the rows of a packed batch, each token by its position in its own sequence.
    pub fn packed_rotation(&self, packing: &Packing) -> fused::Rotation {
        fused::Rotation { packed: Some(packing.positions.clone()), ..self.rotation(0) }
    }

    /// cos and sin (T, N) for positions start..start+T.
    pub fn angles(&self, start: usize, t: usize) -> Result<(Tensor, Tensor)> {
        Ok((self.cos.narrow(0, start, t)?, self.sin.narrow(0, start, t)?))
    }
}
