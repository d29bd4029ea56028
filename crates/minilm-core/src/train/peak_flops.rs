//! The matmul rate a device reaches through candle, measured in a few milliseconds: the denominator
//! of the model-FLOPs-utilisation (MFU) estimate (on the CPU no datasheet peak applies; on a GPU the
//! GPU check reports MFU against the datasheet too).

use std::time::Instant;

use candle_core::{DType, Device, Tensor};

use crate::error::Result;

/// FLOP/s of the best of a few n x n x n matmuls in `dtype`: n = 1024 on the CPU, 8192 on a GPU
/// (where smaller products do not fill the chip; the notes' H200 figure, ~790 TFLOP/s bf16, is 8192^3).
pub fn measure_matmul_flops(device: &Device, dtype: DType) -> Result<f64> {
    let n = if device.is_cpu() { 1024 } else { 8192 };
    // Random operands: a GPU multiplies constant data measurably faster than real values.
    let a = Tensor::rand(-1f32, 1f32, (n, n), device)?.to_dtype(dtype)?;
    let b = Tensor::rand(-1f32, 1f32, (n, n), device)?.to_dtype(dtype)?;
    a.matmul(&b)?; // the first call on a GPU loads cuBLAS and picks its kernel
    device.synchronize()?;
    let mut best = f64::INFINITY;
    for _ in 0..4 {
        let start = Instant::now();
        let c = a.matmul(&b)?;
        c.device().synchronize()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(2.0 * (n * n * n) as f64 / best)
}
