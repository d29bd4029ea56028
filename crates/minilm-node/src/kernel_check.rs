//! The kernel check (minilm_core::kernel_check) for scripts/gpu-check: every fused kernel on a device
//! against its CPU twin. Synchronous: it is a diagnostic that runs alone.

use minilm_core::kernel_check::{self, CheckRow, Shapes};
use napi_derive::napi;

use crate::error::{guarded, to_napi};

/// One comparison, as minilm_core::kernel_check::CheckRow.
#[napi(object)]
pub struct KernelCheckRow {
    pub name: String,
    pub dtype: String,
    pub shape: String,
    pub relative_error: f64,
    pub limit: f64,
    pub deterministic: bool,
    pub device_ms: f64,
    pub passed: bool,
    pub error: Option<String>,
}

impl From<CheckRow> for KernelCheckRow {
    fn from(row: CheckRow) -> Self {
        let CheckRow { name, dtype, shape, relative_error, limit, deterministic, device_ms, passed, error } = row;
        KernelCheckRow { name, dtype, shape, relative_error, limit, deterministic, device_ms, passed, error }
    }
}

/// Runs the check on `device` ("cpu" or "cuda:N") at `shapes`: "reference" (micro-batch 80 x 512
/// through the 108M model's widths) or "small" (a few hundred tokens through narrow widths).
#[napi(catch_unwind, ts_args_type = "device: string, shapes: 'reference' | 'small'")]
pub fn kernel_check(device: String, shapes: String) -> napi::Result<Vec<KernelCheckRow>> {
    let device = minilm_core::device::open_device(&device).map_err(to_napi)?;
    let shapes = parse_shapes(&shapes)?;
    guarded(|| Ok(kernel_check::run(&device, shapes).into_iter().map(KernelCheckRow::from).collect()))
}

pub(crate) fn parse_shapes(shapes: &str) -> napi::Result<Shapes> {
    match shapes {
        "reference" => Ok(Shapes::Reference),
        "small" => Ok(Shapes::Small),
        other => Err(napi::Error::from_reason(format!("shapes {other:?}: expected \"reference\" or \"small\""))),
    }
}
