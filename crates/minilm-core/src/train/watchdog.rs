//! A time limit on every sum over the ranks. Neither MPI nor NCCL gives up on a rank that died or hangs
//! (their launchers end the job when a rank exits: mpirun and torchrun do, a bare srun may not): a
//! sum that waits longer than the limit ends this process with a message that names its rank and the
//! limit, so that the job stops instead of hanging, and its launcher ends the other ranks. NCCL's
//! gradient sums are queued on the GPU and return at once: a stuck one holds up the next call that reads
//! back to the host (the step's loss and token counts), which is timed like the rest.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::Tensor;

use super::collective::Collective;
use crate::error::Result;

/// What happens when a sum outlives the limit; the message says which rank waited how long.
pub type OnTimeout = Box<dyn Fn(String) + Send>;

/// A collective whose every call is timed by a watching thread.
pub struct Watched {
    inner: Box<dyn Collective>,
    clock: Instant,
    /// Milliseconds since `clock` (plus one) at which the sum in flight began; 0 when none is.
    since: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
}

impl Watched {
    /// `inner` with a limit of `limit` on each call; past it, the process exits with status 1.
    pub fn new(inner: Box<dyn Collective>, limit: Duration) -> Self {
        Self::with_action(
            inner,
            limit,
            Box::new(|message| {
                eprintln!("minilm: {message}");
                std::process::exit(1);
            }),
        )
    }

    /// The same with another action (a test's).
    pub fn with_action(inner: Box<dyn Collective>, limit: Duration, on_timeout: OnTimeout) -> Self {
        let (clock, since, done) = (Instant::now(), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (rank, world) = (inner.rank(), inner.world());
        let (watched, finished) = (since.clone(), done.clone());
        std::thread::spawn(move || {
            let tick = (limit / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
            while !finished.load(Ordering::SeqCst) {
                std::thread::sleep(tick);
                let began = watched.load(Ordering::SeqCst);
                let now = clock.elapsed().as_millis() as u64 + 1;
                if began != 0 && now - began > limit.as_millis() as u64 {
                    on_timeout(format!(
                        "rank {rank} of {world}: a sum over the ranks waited more than {} s (MINILM_COLLECTIVE_TIMEOUT): another rank has stopped or hangs; ending this one",
                        limit.as_secs_f64()
                    ));
                    return;
                }
            }
        });
        Watched { inner, clock, since, done }
    }

    /// Times `work`, one call of the inner collective.
    fn timed<T>(&self, work: impl FnOnce(&dyn Collective) -> Result<T>) -> Result<T> {
        self.since.store(self.clock.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
        let result = work(self.inner.as_ref());
        self.since.store(0, Ordering::SeqCst);
        result
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

impl Collective for Watched {
    fn rank(&self) -> usize {
        self.inner.rank()
    }

    fn world(&self) -> usize {
        self.inner.world()
    }

    fn sum_f32(&self, values: &mut [f32]) -> Result<()> {
        self.timed(|c| c.sum_f32(values))
    }

    fn sum_f64(&self, values: &mut [f64]) -> Result<()> {
        self.timed(|c| c.sum_f64(values))
    }

    fn broadcast_f32(&self, values: &mut [f32], root: usize) -> Result<()> {
        self.timed(|c| c.broadcast_f32(values, root))
    }

    fn share_shards(&self, buffer: &Tensor, shards: &[Range<usize>]) -> Result<()> {
        self.timed(|c| c.share_shards(buffer, shards))
    }

    fn sum_in_place(&self, grad: &Tensor, range: Range<usize>) -> Result<()> {
        self.timed(|c| c.sum_in_place(grad, range))
    }

    fn wait_for_sums(&self) -> Result<()> {
        self.timed(|c| c.wait_for_sums())
    }

    fn bucket_elements(&self) -> Option<usize> {
        self.inner.bucket_elements()
    }

    fn sum_gradient(&self, grad: &Tensor) -> Result<Tensor> {
        self.timed(|c| c.sum_gradient(grad))
    }
}
