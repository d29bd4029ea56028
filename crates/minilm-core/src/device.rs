//! Where a model runs: the CPU, or a CUDA device when minilm was built with the `cuda` feature
//! (`npm run build:cuda`). Names are "cpu" and "cuda:N", as PyTorch spells them.

use candle_core::Device;
use serde::Serialize;

use crate::error::{Error, Result};

/// Opens the device `name` names, or says why it cannot be used.
pub fn open_device(name: &str) -> Result<Device> {
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = name
        .strip_prefix("cuda:")
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| Error::usage(format!("device {name:?}: expected \"cpu\" or \"cuda:N\"")))?;
    if !cfg!(feature = "cuda") {
        return Err(Error::usage(format!(
            "device {name}: this addon was built without CUDA; build the GPU addon with `npm run build:cuda`"
        )));
    }
    Device::new_cuda(ordinal).map_err(|e| Error::usage(format!("device {name}: CUDA cannot start it: {e}")))
}

#[derive(Debug, Serialize)]
pub struct CudaStatus {
    /// Whether this addon was built with the `cuda` feature.
    pub built: bool,
    /// Whether device 0 could be opened.
    pub available: bool,
    /// Why not, when it is not available.
    pub reason: Option<String>,
    /// Device 0's total memory in bytes, when it is available (for the memory estimate's warning).
    pub total_memory_bytes: Option<u64>,
}

/// Whether training can use the GPU here, and if not, why (no CUDA build, no device, a driver too old).
pub fn cuda_status() -> CudaStatus {
    if !cfg!(feature = "cuda") {
        return CudaStatus {
            built: false,
            available: false,
            reason: Some("this addon was built without CUDA (npm run build:cuda builds one)".into()),
            total_memory_bytes: None,
        };
    }
    match open_device("cuda:0") {
        Ok(device) => CudaStatus { built: true, available: true, reason: None, total_memory_bytes: total_memory(&device) },
        Err(e) => CudaStatus { built: true, available: false, reason: Some(e.to_string()), total_memory_bytes: None },
    }
}

/// A GPU's total memory in bytes (None on the CPU, or if the driver will not say).
pub fn total_memory(device: &Device) -> Option<u64> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(cuda) = device {
        return cuda.cuda_stream().context().total_mem().ok().map(|bytes| bytes as u64);
    }
    let _ = device;
    None
}
