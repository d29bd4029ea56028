//! The one conversion from minilm-core's errors (and panics) to JavaScript errors.

use minilm_core::Error;

/// The message is the core's own user-facing sentence; the status lets TypeScript tell a stop from a failure.
pub fn to_napi(error: Error) -> napi::Error {
    let status = match error {
        Error::Cancelled => napi::Status::Cancelled,
        Error::Usage(_) => napi::Status::InvalidArg,
        _ => napi::Status::GenericFailure,
    };
    napi::Error::new(status, error.to_string())
}

/// Runs CPU-heavy core work, turning a panic into an error instead of a dead process.
pub fn guarded<T>(work: impl FnOnce() -> minilm_core::Result<T>) -> napi::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result.map_err(to_napi),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            Err(napi::Error::from_reason(format!("internal error in minilm (please report it): {what}")))
        }
    }
}

/// Results cross to JavaScript as JSON text; the TypeScript layer parses and types them.
pub fn to_json<T: serde::Serialize>(value: &T) -> napi::Result<String> {
    serde_json::to_string(value).map_err(|e| napi::Error::from_reason(e.to_string()))
}
