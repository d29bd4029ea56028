//! The one conversion from minilm-core's errors (and panics) to JavaScript errors.

use minilm_core::Error;

/// The message is the core's own user-facing sentence; the status lets TypeScript tell a stop from a
/// usage error from a failure (a bug among them: its message asks to report it).
pub fn to_napi(error: Error) -> napi::Error {
    let status = match error {
        Error::Cancelled => napi::Status::Cancelled,
        Error::Usage(_) => napi::Status::InvalidArg,
        _ => napi::Status::GenericFailure,
    };
    napi::Error::new(status, error.to_string())
}

/// Runs core work, turning a panic into an internal error instead of a dead process.
pub fn guarded<T>(work: impl FnOnce() -> minilm_core::Result<T>) -> napi::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result.map_err(to_napi),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            Err(to_napi(Error::internal(what)))
        }
    }
}

/// A count from JavaScript that the core keeps as u64: whole and not negative.
pub fn count(name: &str, value: i64) -> napi::Result<u64> {
    u64::try_from(value).map_err(|_| to_napi(Error::usage(format!("{name} must not be negative, not {value}"))))
}
