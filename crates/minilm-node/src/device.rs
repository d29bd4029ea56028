//! Whether this addon can use a GPU (minilm_core::device).

use napi_derive::napi;

#[napi(object)]
pub struct CudaStatus {
    /// Whether this addon was built with the `cuda` feature.
    pub built: bool,
    /// Whether device 0 could be opened.
    pub available: bool,
    /// Why not, when it is not available.
    pub reason: Option<String>,
    /// Device 0's total memory in bytes, when it is available.
    pub total_memory_bytes: Option<f64>,
}

/// Whether this addon can train on a GPU, and if not, why.
#[napi(catch_unwind)]
pub fn cuda_status() -> CudaStatus {
    let minilm_core::device::CudaStatus { built, available, reason, total_memory_bytes } = minilm_core::device::cuda_status();
    CudaStatus { built, available, reason, total_memory_bytes: total_memory_bytes.map(|bytes| bytes as f64) }
}
