//! Data-parallel training: what a trainer needs from the processes it trains with. Each rank takes its
//! own slice of every step's samples (trainer.rs), and the ranks add up their gradients and figures
//! through a `Collective` before the optimizer step, so every rank takes the same step. The engines are
//! existing ones: MPI on CPUs (mpi_collective.rs, the `mpi` feature), NCCL on GPUs (nccl_collective.rs,
//! the `cuda` feature).

use candle_core::{DType, Tensor};

use crate::error::Result;

/// The ranks of one data-parallel run, as one of them sees them.
pub trait Collective: Send {
    /// This process's rank, 0..world.
    fn rank(&self) -> usize;
    /// How many processes train together.
    fn world(&self) -> usize;
    /// Replaces `values` with their sums over the ranks, element by element. Every rank gets the same
    /// bits, and the same inputs always give the same sums (the order of the additions is fixed), so
    /// the ranks' weights never drift apart and a run can be repeated exactly.
    fn sum_f32(&self, values: &mut [f32]) -> Result<()>;
    /// The same for float64 figures (the loss, token counts).
    fn sum_f64(&self, values: &mut [f64]) -> Result<()>;

    /// The flat gradient summed over the ranks. By default through the host's memory, in float32 (where
    /// MPI's buffers live); NCCL sums on the GPU.
    fn sum_gradient(&self, grad: &Tensor) -> Result<Tensor> {
        let mut values = grad.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        self.sum_f32(&mut values)?;
        Ok(Tensor::from_vec(values, grad.elem_count(), grad.device())?.to_dtype(grad.dtype())?)
    }
}

/// Which samples of a draw of `micro_batch_size * world` samples a rank trains on: the rank's own
/// consecutive `micro_batch_size`. Every rank draws the whole step's samples in the same order, so the
/// samples of a step, and the sampler's position after it, do not depend on the world size: a run
/// checkpointed on 2 ranks resumes on 1 (with twice the micro-batches per step) on the same samples.
pub fn rank_slice(rank: usize, micro_batch_size: usize) -> std::ops::Range<usize> {
    rank * micro_batch_size..(rank + 1) * micro_batch_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranks_slices_cover_a_draw_once() {
        let (micro, world) = (4, 3);
        let mut taken: Vec<usize> = (0..world).flat_map(|rank| rank_slice(rank, micro)).collect();
        taken.sort();
        assert_eq!(taken, (0..micro * world).collect::<Vec<_>>());
    }
}
