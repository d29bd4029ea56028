//! A handle on long-running work: JavaScript polls its progress and can cancel it (an AbortSignal calls
//! `cancel`). Polling keeps the glue simple and never blocks the event loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use napi_derive::napi;

#[napi]
#[derive(Clone, Default)]
pub struct Job {
    pub(crate) cancelled: Arc<AtomicBool>,
    pub(crate) progress: Arc<Mutex<Option<String>>>,
}

#[napi]
impl Job {
    #[napi(constructor)]
    pub fn new() -> Self {
        Job::default()
    }

    /// Asks the work to stop at the next safe point; it then rejects with code "Cancelled".
    #[napi]
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// The latest progress report as JSON text, or null before the first.
    #[napi]
    pub fn progress(&self) -> Option<String> {
        self.progress.lock().ok().and_then(|p| p.clone())
    }

    pub(crate) fn report<T: serde::Serialize>(&self, progress: &T) {
        if let (Ok(mut slot), Ok(value)) = (self.progress.lock(), serde_json::to_string(progress)) {
            *slot = Some(value);
        }
    }
}
