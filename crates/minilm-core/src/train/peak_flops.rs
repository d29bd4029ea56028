//! The denominator of the model-FLOPs-utilisation (MFU) estimate: the datasheet's dense bf16 rate for
//! GPUs whose rate is known, else the best matmul rate measured on the device. A measurement can come
//! out low when the machine is busy at that moment (then every later MFU reads high, even above 100%),
//! so it is the best of many timings over a fair stretch of time; the training loop also raises it if
//! the run itself goes faster.

use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use serde::Serialize;

use crate::error::Result;

/// A FLOP/s figure and what it is, for the log.
#[derive(Clone, Debug, Serialize)]
pub struct PeakFlops {
    pub flops: f64,
    /// Timed here, rather than the datasheet's: a lower bound, which the run's own rate may beat.
    pub measured: bool,
    /// "NVIDIA H200 datasheet, dense bf16" or "measured: best of 31 1024^3 float32 matmuls".
    pub source: String,
}

/// The peak for training on `device` in `dtype`.
pub fn peak_flops(device: &Device, dtype: DType) -> Result<PeakFlops> {
    if let (Some(name), DType::BF16) = (gpu_name(device), dtype) {
        if let Some(flops) = datasheet_bf16(&name) {
            return Ok(PeakFlops { flops, measured: false, source: format!("{name} datasheet, dense bf16") });
        }
    }
    let (flops, source) = measure(device, dtype)?;
    Ok(PeakFlops { flops, measured: true, source })
}

/// Dense bf16 tensor-core FLOP/s (FP32 accumulation) from NVIDIA's datasheets, by device name.
fn datasheet_bf16(name: &str) -> Option<f64> {
    let has = |part: &str| name.contains(part);
    let tflops = if has("H100") || has("H200") {
        if has("PCIe") {
            756.0
        } else if has("NVL") {
            835.5
        } else {
            989.4 // SXM
        }
    } else if has("A100") {
        312.0
    } else {
        return None;
    };
    Some(tflops * 1e12)
}

fn gpu_name(device: &Device) -> Option<String> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(cuda) => cuda.cuda_stream().context().name().ok(),
        _ => None,
    }
}

/// How long the measurement takes at least: long enough that a busy moment does not decide it.
const MEASURE_FOR: Duration = Duration::from_millis(300);

/// FLOP/s of the best of n x n x n matmuls in `dtype` timed one by one for MEASURE_FOR (at least 4):
/// n = 1024 on the CPU, 8192 on a GPU (where smaller products do not fill the chip; the notes' H200
/// figure, ~790 TFLOP/s bf16, is 8192^3).
pub fn measure(device: &Device, dtype: DType) -> Result<(f64, String)> {
    let n = if device.is_cpu() { 1024 } else { 8192 };
    // Random operands: a GPU multiplies constant data measurably faster than real values.
    let a = Tensor::rand(-1f32, 1f32, (n, n), device)?.to_dtype(dtype)?;
    let b = Tensor::rand(-1f32, 1f32, (n, n), device)?.to_dtype(dtype)?;
    a.matmul(&b)?; // the first call on a GPU loads cuBLAS and picks its kernel
    device.synchronize()?;
    let (mut best, mut count) = (f64::INFINITY, 0);
    let started = Instant::now();
    while count < 4 || (started.elapsed() < MEASURE_FOR && count < 200) {
        let start = Instant::now();
        a.matmul(&b)?;
        device.synchronize()?;
        best = best.min(start.elapsed().as_secs_f64());
        count += 1;
    }
    let name = match dtype {
        DType::BF16 => "bf16",
        DType::F16 => "float16",
        DType::F64 => "float64",
        _ => "float32",
    };
    Ok((2.0 * (n * n * n) as f64 / best, format!("measured: best of {count} {n}^3 {name} matmuls")))
}
