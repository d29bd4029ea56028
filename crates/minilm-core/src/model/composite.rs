//! The layers written with candle's differentiable ops only, for what the fused CPU kernels do not
//! cover (other devices and dtypes). Candle's own fused rms_norm, softmax_last_dim and rope have no
//! backward and would silently stop gradients, so none of them is used here.

use candle_core::{DType, Device, Result, Tensor, D};

pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let wide = at_least_f32(x.dtype());
    let x32 = x.to_dtype(wide)?;
    let mean_square = x32.sqr()?.mean_keepdim(D::Minus1)?;
    let scale = (mean_square + eps)?.sqrt()?.recip()?;
    x32.broadcast_mul(&scale)?.broadcast_mul(&weight.to_dtype(wide)?)?.to_dtype(x.dtype())
}

/// Half-split RoPE of x (B, heads, T, D) with `cos` and `sin` already narrowed to its T positions:
/// (T, N), or (B, 1, T, N) when each row has its own. Computed in float32 or wider (as litgpt does
/// under bf16), returned in x's dtype.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(3)?;
    let n = cos.dim(D::Minus1)?;
    let wide = at_least_f32(x.dtype());
    let (x32, cos, sin) = (x.to_dtype(wide)?, &cos.to_dtype(wide)?, &sin.to_dtype(wide)?);
    let rotated_part = if n == d { x32.clone() } else { x32.narrow(3, 0, n)? };
    let first = rotated_part.narrow(3, 0, n / 2)?;
    let second = rotated_part.narrow(3, n / 2, n / 2)?;
    let rotate_half = Tensor::cat(&[&second.neg()?, &first], 3)?;
    let roped = (rotated_part.broadcast_mul(cos)? + rotate_half.broadcast_mul(sin)?)?;
    let out = if n == d { roped } else { Tensor::cat(&[&roped, &x32.narrow(3, n, d - n)?], 3)? };
    out.to_dtype(x.dtype())
}

pub fn causal_softmax(scores: &Tensor, scale: f64, query_len: usize, first_position: usize) -> Result<Tensor> {
    let (rows, keys) = (scores.dim(D::Minus2)?, scores.dim(D::Minus1)?);
    // In float32 or wider whatever the scores' dtype: bf16's 8-bit mantissa would round small weights away.
    let wide = at_least_f32(scores.dtype());
    let mask = causal_mask(rows, query_len, first_position, keys, scores.device())?.to_dtype(wide)?;
    let scaled = (scores.to_dtype(wide)? * scale)?.broadcast_add(&mask)?;
    candle_nn::ops::softmax(&scaled, D::Minus1)?.to_dtype(scores.dtype())
}

/// causal_softmax for rows that pack several sequences (fused::packed_causal_softmax says how), with
/// `positions` (B T values) as a tensor on the scores' device.
pub fn packed_causal_softmax(scores: &Tensor, scale: f64, positions: &Tensor) -> Result<Tensor> {
    let (batch, t) = (scores.dim(0)?, scores.dim(D::Minus1)?);
    let rows = scores.dim(D::Minus2)?;
    let wide = at_least_f32(scores.dtype());
    // A query at time q, position p in its sequence, sees the keys q - p ..= q.
    let times = Tensor::arange(0u32, t as u32, scores.device())?;
    let query_times = times.repeat(rows / t)?.reshape((1, rows, 1))?;
    let positions = positions.reshape((batch, t))?.repeat((1, rows / t))?.reshape((batch, rows, 1))?;
    let first_keys = query_times.broadcast_sub(&positions)?;
    let keys = times.reshape((1, 1, t))?;
    let visible = keys.broadcast_le(&query_times)?.broadcast_mul(&keys.broadcast_ge(&first_keys)?)?;
    let shape = (batch, rows, t);
    let open = Tensor::zeros(shape, DType::F32, scores.device())?;
    let closed = Tensor::full(f32::NEG_INFINITY, shape, scores.device())?;
    let mask = visible.where_cond(&open, &closed)?.to_dtype(wide)?;
    // (B, rows, T) against scores (B, ..., rows, T).
    let mut mask_dims = vec![batch];
    mask_dims.extend(std::iter::repeat_n(1, scores.rank() - 3));
    mask_dims.extend([rows, t]);
    let scaled = (scores.to_dtype(wide)? * scale)?.broadcast_add(&mask.reshape(mask_dims)?)?;
    candle_nn::ops::softmax(&scaled, D::Minus1)?.to_dtype(scores.dtype())
}

/// 0 where row's query (at position first_position + row % query_len) may see the key, -inf after.
/// Built on the tensors' device from two index vectors, so a GPU gets no host buffer to fill and copy
/// for every layer of every micro-batch.
fn causal_mask(rows: usize, query_len: usize, first_position: usize, keys: usize, device: &Device) -> Result<Tensor> {
    let heads = rows / query_len;
    let first = first_position as u32;
    let query_positions = Tensor::arange(first, first + query_len as u32, device)?.repeat(heads)?.reshape((rows, 1))?;
    let key_positions = Tensor::arange(0u32, keys as u32, device)?.reshape((1, keys))?;
    let visible = key_positions.broadcast_le(&query_positions)?;
    let open = Tensor::zeros((rows, keys), DType::F32, device)?;
    let closed = Tensor::full(f32::NEG_INFINITY, (rows, keys), device)?;
    visible.where_cond(&open, &closed)
}

pub fn swiglu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.silu()? * b
}

/// Mean cross-entropy, in float32 (or wider) whatever the logits' dtype.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    candle_nn::loss::cross_entropy(&logits.to_dtype(at_least_f32(logits.dtype()))?, targets)
}

/// The dtype half-precision values are widened to for norms, softmax, RoPE and the loss.
pub fn at_least_f32(dtype: DType) -> DType {
    match dtype {
        DType::BF16 | DType::F16 => DType::F32,
        other => other,
    }
}
