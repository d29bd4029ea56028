//! The step profile (minilm_core::step_profile) for scripts/gpu-check: each part of a reference
//! micro-batch timed on its own. Synchronous: it is a diagnostic that runs alone.

use candle_core::DType;
use minilm_core::step_profile::{self, PartTime};
use napi_derive::napi;

use crate::error::{guarded, to_napi};

/// One part of the step, as minilm_core::step_profile::PartTime.
#[napi(object)]
pub struct StepPart {
    pub part: String,
    pub per_micro_batch: f64,
    pub ms_each: f64,
    pub ms_per_micro_batch: f64,
}

impl From<PartTime> for StepPart {
    fn from(part: PartTime) -> Self {
        let PartTime { part, per_micro_batch, ms_each, ms_per_micro_batch } = part;
        StepPart { part, per_micro_batch, ms_each, ms_per_micro_batch }
    }
}

/// Profiles a micro-batch on `device` ("cpu" or "cuda:N") with `dtype` activations ("f32" or "bf16")
/// at `shapes` ("reference" or "small").
#[napi(catch_unwind, ts_args_type = "device: string, dtype: 'f32' | 'bf16', shapes: 'reference' | 'small'")]
pub fn step_profile(device: String, dtype: String, shapes: String) -> napi::Result<Vec<StepPart>> {
    let device = minilm_core::device::open_device(&device).map_err(to_napi)?;
    let dtype = match dtype.as_str() {
        "f32" => DType::F32,
        "bf16" => DType::BF16,
        other => return Err(napi::Error::from_reason(format!("step profile dtype {other:?}: expected \"f32\" or \"bf16\""))),
    };
    let shapes = crate::kernel_check::parse_shapes(&shapes)?;
    guarded(|| Ok(step_profile::profile(&device, dtype, shapes)?.into_iter().map(StepPart::from).collect()))
}
