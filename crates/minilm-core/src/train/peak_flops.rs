//! The matmul rate this machine reaches through candle, measured in a few milliseconds: the
//! denominator of the model-FLOPs-utilisation (MFU) estimate on the CPU, where no datasheet peak
//! applies.

use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::error::Result;

/// FLOP/s of the best of a few float32 n x n x n matmuls (n = 1024).
pub fn measure_matmul_flops(device: &Device) -> Result<f64> {
    let n = 1024;
    let a = Tensor::ones((n, n), candle_core::DType::F32, device)?;
    let b = Tensor::ones((n, n), candle_core::DType::F32, device)?;
    let mut best = f64::INFINITY;
    for _ in 0..4 {
        let start = Instant::now();
        let c = a.matmul(&b)?;
        c.device().synchronize()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(2.0 * (n * n * n) as f64 / best)
}
