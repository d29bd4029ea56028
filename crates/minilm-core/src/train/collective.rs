//! Data-parallel training: what a trainer needs from the processes it trains with. Each rank takes its
//! own slice of every step's samples (trainer.rs), and the ranks add up their gradients and figures
//! through a `Collective` before the optimizer step, so every rank takes the same step. The engines are
//! existing ones: MPI on CPUs (mpi_collective.rs, the `mpi` feature), NCCL on GPUs (nccl_collective.rs,
//! the `cuda` feature).

use std::ops::Range;

use candle_core::{DType, Tensor};

use crate::error::Result;

/// PyTorch DDP's default bucket: 25 MiB of float32 gradient.
pub const DEFAULT_BUCKET_ELEMENTS: usize = 25 * (1 << 20) / 4;

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
    /// Replaces `values` on every rank with rank `root`'s.
    fn broadcast_f32(&self, values: &mut [f32], root: usize) -> Result<()>;

    /// Gives every rank each rank's shard of `buffer` (a flat tensor the same size on all): rank r's
    /// `shards[r]` is copied into the others' `buffer`, in place. How the ranks share what each updated
    /// of a sharded optimizer (ZeRO-1). By default through the host (`share_through_host`).
    fn share_shards(&self, buffer: &Tensor, shards: &[Range<usize>]) -> Result<()> {
        share_through_host(self, buffer, shards)
    }

    /// Sums `range` of the float32 flat gradient `grad` over the ranks, in place. An engine with a stream
    /// of its own (NCCL) only starts the sum, which runs while the backward pass goes on: the sums are in
    /// place once `wait_for_sums` returns, and until then nothing may touch the range. By default the sum
    /// is done at once, through the host's memory (where MPI's buffers live).
    fn sum_in_place(&self, grad: &Tensor, range: Range<usize>) -> Result<()> {
        let mut values = grad.narrow(0, range.start, range.len())?.to_vec1::<f32>()?;
        self.sum_f32(&mut values)?;
        grad.slice_set(&Tensor::from_vec(values, range.len(), grad.device())?, 0, range.start)?;
        Ok(())
    }

    /// Makes what follows (the GPU's compute stream for NCCL) wait until every sum `sum_in_place`
    /// started is in place.
    fn wait_for_sums(&self) -> Result<()> {
        Ok(())
    }

    /// How many float32 elements of the gradient go in one bucket when this engine sums the gradient
    /// while the backward pass runs (gradient_buckets.rs); None when it sums the whole gradient after
    /// the pass, as engines do that have no stream of their own to overlap the pass with.
    fn bucket_elements(&self) -> Option<usize> {
        None
    }

    /// The flat gradient summed over the ranks, after the backward pass, in float32. By default through
    /// the host's memory, in one copy each way.
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

/// `Collective::share_shards` through the host's memory, one shard after another, each broadcast from its
/// rank as float32: values are copied, never added, so float32 and bfloat16 arrive bit for bit.
pub fn share_through_host<C: Collective + ?Sized>(collective: &C, buffer: &Tensor, shards: &[Range<usize>]) -> Result<()> {
    for (root, shard) in shards.iter().enumerate() {
        let piece = buffer.narrow(0, shard.start, shard.len())?;
        let mut values = if root == collective.rank() { piece.to_dtype(DType::F32)?.to_vec1::<f32>()? } else { vec![0.0; shard.len()] };
        collective.broadcast_f32(&mut values, root)?;
        if root != collective.rank() {
            let shared = Tensor::from_vec(values, shard.len(), buffer.device())?.to_dtype(buffer.dtype())?;
            buffer.slice_set(&shared, 0, shard.start)?;
        }
    }
    Ok(())
}

/// The ranks' shards of a flat buffer of `len` elements, in rank order: consecutive, as equal as whole
/// elements allow, covering it once. A shard may cut a parameter in two: AdamW's update is element by
/// element.
pub fn shard_ranges(len: usize, world: usize) -> Vec<Range<usize>> {
    (0..world).map(|rank| rank * len / world..(rank + 1) * len / world).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_buffer_once_in_rank_order() {
        for (len, world) in [(10, 3), (2, 4), (1000, 1), (7, 7)] {
            let shards = shard_ranges(len, world);
            assert_eq!(shards.len(), world);
            assert_eq!(shards.iter().flat_map(|s| s.clone()).collect::<Vec<_>>(), (0..len).collect::<Vec<_>>());
            assert!(shards.iter().all(|s| s.len() == len / world || s.len() == len.div_ceil(world)));
        }
    }

    #[test]
    fn the_ranks_slices_cover_a_draw_once() {
        let (micro, world) = (4, 3);
        let mut taken: Vec<usize> = (0..world).flat_map(|rank| rank_slice(rank, micro)).collect();
        taken.sort();
        assert_eq!(taken, (0..micro * world).collect::<Vec<_>>());
    }
}
