//! The building blocks of the forward pass, written with differentiable candle ops only: candle's
//! fused rms_norm, softmax_last_dim and rope have no backward and would silently stop gradients.

use candle_core::{DType, Device, Result, Tensor, D};

/// y = x W^T for x (..., in) and W (out, in), as torch.nn.Linear without bias.
pub fn linear(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    let (rows, features) = (dims[..dims.len() - 1].iter().product::<usize>(), dims[dims.len() - 1]);
    let y = x.reshape((rows, features))?.matmul(&weight.t()?)?;
    let mut out_dims = dims.to_vec();
    *out_dims.last_mut().unwrap() = weight.dim(0)?;
    y.reshape(out_dims)
}

/// RMSNorm over the last dimension, in float32 as litgpt computes it: x * rsqrt(mean(x^2) + eps) * w.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let x32 = x.to_dtype(DType::F32)?;
    let mean_square = x32.sqr()?.mean_keepdim(D::Minus1)?;
    let scale = (mean_square + eps)?.sqrt()?.recip()?;
    x32.broadcast_mul(&scale)?.broadcast_mul(&weight.to_dtype(DType::F32)?)?.to_dtype(x.dtype())
}

/// cos and sin of RoPE's angles for positions 0..T, each (T, N): litgpt's cache, with the N/2
/// frequencies repeated twice to match the half-split rotation.
pub struct RopeCache {
    pub cos: Tensor,
    pub sin: Tensor,
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
            cos: Tensor::from_vec(cos, (positions, n_elem), device)?,
            sin: Tensor::from_vec(sin, (positions, n_elem), device)?,
        })
    }

    /// Rotates the first N dims of each head of x (B, heads, T, D) for positions start..start+T;
    /// the other D - N dims pass through.
    pub fn apply(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        let (_, _, t, d) = x.dims4()?;
        let n = self.cos.dim(1)?;
        if n == 0 {
            return Ok(x.clone());
        }
        let cos = self.cos.narrow(0, start, t)?.to_dtype(x.dtype())?;
        let sin = self.sin.narrow(0, start, t)?.to_dtype(x.dtype())?;
        let rotated_part = if n == d { x.clone() } else { x.narrow(3, 0, n)? };
        let first = rotated_part.narrow(3, 0, n / 2)?;
        let second = rotated_part.narrow(3, n / 2, n / 2)?;
        let rotate_half = Tensor::cat(&[&second.neg()?, &first], 3)?;
        let roped = (rotated_part.broadcast_mul(&cos)? + rotate_half.broadcast_mul(&sin)?)?;
        if n == d {
            Ok(roped)
        } else {
            Tensor::cat(&[&roped, &x.narrow(3, n, d - n)?], 3)
        }
    }
}

/// An additive causal mask for `rows` query rows that repeat positions 0..T (queries of several heads
/// stacked), against T keys: 0 where the key is at or before the query's position, -inf after.
pub fn causal_mask(repeats: usize, t: usize, device: &Device) -> Result<Tensor> {
    let mut mask = Vec::with_capacity(repeats * t * t);
    for _ in 0..repeats {
        for query in 0..t {
            mask.extend((0..t).map(|key| if key <= query { 0f32 } else { f32::NEG_INFINITY }));
        }
    }
    Tensor::from_vec(mask, (repeats * t, t), device)
}

/// Softmax over the last dimension, differentiable.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(x, D::Minus1)
}
