//! The layers written with candle's differentiable ops only, for what the fused CPU kernels do not
//! cover (other devices and dtypes). Candle's own fused rms_norm, softmax_last_dim and rope have no
//! backward and would silently stop gradients, so none of them is used here.

use candle_core::{DType, Device, Result, Tensor, D};

pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let x32 = x.to_dtype(DType::F32)?;
    let mean_square = x32.sqr()?.mean_keepdim(D::Minus1)?;
    let scale = (mean_square + eps)?.sqrt()?.recip()?;
    x32.broadcast_mul(&scale)?.broadcast_mul(&weight.to_dtype(DType::F32)?)?.to_dtype(x.dtype())
}

/// Half-split RoPE of x (B, heads, T, D) with `cos` and `sin` already narrowed to its T positions.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(3)?;
    let n = cos.dim(1)?;
    let (cos, sin) = (cos.to_dtype(x.dtype())?, sin.to_dtype(x.dtype())?);
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

pub fn causal_softmax(scores: &Tensor, scale: f64, query_len: usize, first_position: usize) -> Result<Tensor> {
    let (rows, keys) = (scores.dim(D::Minus2)?, scores.dim(D::Minus1)?);
    let mask = causal_mask(rows, query_len, first_position, keys, scores.device())?.to_dtype(scores.dtype())?;
    candle_nn::ops::softmax(&(scores * scale)?.broadcast_add(&mask)?, D::Minus1)
}

/// 0 where row's query (at position first_position + row % query_len) may see the key, -inf after.
fn causal_mask(rows: usize, query_len: usize, first_position: usize, keys: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..rows * keys)
        .map(|i| if i % keys <= first_position + (i / keys) % query_len { 0.0 } else { f32::NEG_INFINITY })
        .collect();
    Tensor::from_vec(mask, (rows, keys), device)
}

pub fn swiglu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.silu()? * b
}

pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    candle_nn::loss::cross_entropy(logits, targets)
}
