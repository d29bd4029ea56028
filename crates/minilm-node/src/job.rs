//! A handle on long-running work: JavaScript polls its progress and can cancel it (an AbortSignal calls
//! `cancel`). Polling keeps the glue simple and never blocks the event loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use napi_derive::napi;

use crate::progress::PrepareProgress;

#[napi]
#[derive(Clone, Default)]
pub struct Job {
    pub(crate) cancelled: Arc<AtomicBool>,
    /// prepare's progress, the one job that reports any; None until the next report.
    pub(crate) progress: Arc<Mutex<Option<PrepareProgress>>>,
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

    /// The latest progress report since the last call, or null when there is none.
    #[napi]
    pub fn take_progress(&self) -> Option<PrepareProgress> {
        self.progress.lock().ok().and_then(|mut p| p.take())
    }

    pub(crate) fn report(&self, progress: PrepareProgress) {
        if let Ok(mut slot) = self.progress.lock() {
            *slot = Some(progress);
        }
    }
}
