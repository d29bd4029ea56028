//! The checks, one file per kernels/*.cu file. Each runs every entry point of its file for float32 and
//! bfloat16 at small shapes and awkward ones (odd widths, rows not a multiple of the block, head size
//! 48, GQA groups), with the launch shape the CUDA launcher uses, and compares with the CPU twin.

mod attention;
mod causal_softmax;
mod cross_entropy;
mod embedding;
mod heads;
mod optimizer;
mod rms_norm;
mod swiglu;

use candle_core::{Device, Tensor};

use crate::{EmulatedKernels, Report};

pub fn run_all(kernels: &EmulatedKernels, report: &mut Report) {
    rms_norm::run(kernels, report);
    heads::run(kernels, report);
    causal_softmax::run(kernels, report);
    attention::run(kernels, report);
    swiglu::run(kernels, report);
    cross_entropy::run(kernels, report);
    embedding::run(kernels, report);
    optimizer::run(kernels, report);
}

/// candle's errors as the report's messages.
trait OrMessage<T> {
    fn or_message(self) -> Result<T, String>;
}

impl<T> OrMessage<T> for candle_core::Result<T> {
    fn or_message(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// A float32 CPU tensor for a twin.
fn tensor(values: &[f32], shape: impl Into<candle_core::Shape>) -> Result<Tensor, String> {
    Tensor::from_slice(values, shape, &Device::Cpu).or_message()
}

/// A twin's output as a flat float32 vector.
fn values(t: &Tensor) -> Result<Vec<f32>, String> {
    t.flatten_all().and_then(|t| t.to_dtype(candle_core::DType::F32)).and_then(|t| t.to_vec1::<f32>()).or_message()
}
