//! The grid, block and shared-memory size of every kernel launch, in one place for both callers: the
//! CUDA launcher (cuda.rs and the `gpu` modules beside each CPU twin) and the CPU emulator that runs
//! the same kernels in CI (crates/minilm-kernel-emulator). A wrong launch shape therefore fails the
//! emulated test as it would fail on the GPU, and `check` refuses one a real device would refuse.
//! Compiled with or without the `cuda` feature: nothing here touches a GPU.

/// A kernel launch's shape: blocks in the grid, threads in a block, and dynamic shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchShape {
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
    pub shared_bytes: u32,
}

/// What a device enforces at launch (CUDA's programming guide, compute capability 9.0).
pub struct DeviceLimits {
    pub threads_per_block: u32,
    pub block: (u32, u32, u32),
    pub grid: (u32, u32, u32),
    /// Shared memory per block without `cudaFuncAttributeMaxDynamicSharedMemorySize`.
    pub shared_bytes_default: u32,
    /// The most a block may have after that opt-in.
    pub shared_bytes_opt_in: u32,
}

/// An H100 / H200 (sm_90).
pub const H200: DeviceLimits = DeviceLimits {
    threads_per_block: 1024,
    block: (1024, 1024, 64),
    grid: (i32::MAX as u32, 65_535, 65_535),
    shared_bytes_default: 48 * 1024,
    shared_bytes_opt_in: 227 * 1024,
};

impl LaunchShape {
    pub fn threads_per_block(&self) -> u32 {
        self.block.0 * self.block.1 * self.block.2
    }

    pub fn blocks(&self) -> u64 {
        self.grid.0 as u64 * self.grid.1 as u64 * self.grid.2 as u64
    }

    /// Refuses what `limits` would refuse at launch. `opted_in` says whether the kernel's launcher
    /// raised its dynamic shared memory limit (none of minilm's do yet).
    pub fn check(&self, limits: &DeviceLimits, opted_in: bool) -> Result<(), String> {
        let fits = |value: (u32, u32, u32), most: (u32, u32, u32)| value.0 <= most.0 && value.1 <= most.1 && value.2 <= most.2;
        let positive = |value: (u32, u32, u32)| value.0 > 0 && value.1 > 0 && value.2 > 0;
        if !positive(self.grid) || !positive(self.block) {
            return Err(format!("{self:?}: every grid and block dimension must be at least 1"));
        }
        if self.threads_per_block() > limits.threads_per_block || !fits(self.block, limits.block) {
            return Err(format!(
                "{self:?}: {} threads per block, the device allows {}",
                self.threads_per_block(),
                limits.threads_per_block
            ));
        }
        if !fits(self.grid, limits.grid) {
            return Err(format!("{self:?}: the grid exceeds the device's {:?}", limits.grid));
        }
        let shared_limit = if opted_in { limits.shared_bytes_opt_in } else { limits.shared_bytes_default };
        if self.shared_bytes > shared_limit {
            let hint = if opted_in { "" } else { " without the opt-in (cudaFuncAttributeMaxDynamicSharedMemorySize)" };
            return Err(format!("{self:?}: {} bytes of shared memory, the device allows {shared_limit}{hint}", self.shared_bytes));
        }
        Ok(())
    }
}

/// Threads per block for element-wise, grid-stride and row kernels.
pub const THREADS: u32 = 256;

/// Enough blocks to fill an H200 (132 multiprocessors, 16 blocks each) and no more: grid-stride kernels
/// loop over the rest.
const MOST_GRID_STRIDE_BLOCKS: usize = 132 * 16;

/// A grid-stride launch over `n` elements: one thread per element up to MOST_GRID_STRIDE_BLOCKS blocks.
pub fn grid_stride(n: usize) -> LaunchShape {
    let blocks = n.div_ceil(THREADS as usize).clamp(1, MOST_GRID_STRIDE_BLOCKS);
    linear(blocks, 1, THREADS)
}

/// One block of `threads` per row.
pub fn block_per_row(rows: usize, threads: u32) -> LaunchShape {
    linear(rows, 1, threads)
}

/// Rows handled by one block of warp_per_row: one per warp.
pub const WARPS_PER_BLOCK: usize = 4;

/// Four warps per block, one per row.
pub fn warp_per_row(rows: usize) -> LaunchShape {
    linear(rows.div_ceil(WARPS_PER_BLOCK), 1, 32 * WARPS_PER_BLOCK as u32)
}

/// A (blocks_x, blocks_y) grid of `threads`-thread blocks.
fn linear(blocks_x: usize, blocks_y: usize, threads: u32) -> LaunchShape {
    LaunchShape { grid: (blocks_x as u32, blocks_y as u32, 1), block: (threads, 1, 1), shared_bytes: 0 }
}

/// RMSNorm's forward pass and its input gradient: a block per row.
pub fn rms_norm_rows(rows: usize) -> LaunchShape {
    block_per_row(rows, THREADS)
}

/// RMSNorm's weight gradient in two deterministic passes (kernels/rms_norm.cu says why): partial sums
/// over chunks of rows, then each column's chunks summed in order.
pub struct WeightGradPlan {
    pub chunks: usize,
    pub rows_per_chunk: usize,
    /// rms_norm_backward_weight_partial: block (column tile, chunk).
    pub partial: LaunchShape,
    /// sum_chunks: a thread per column.
    pub sum: LaunchShape,
}

/// Row chunks of the weight gradient's first pass.
const WEIGHT_GRAD_CHUNKS: usize = 256;

pub fn rms_norm_weight_grad(rows: usize, cols: usize) -> WeightGradPlan {
    let chunks = WEIGHT_GRAD_CHUNKS.min(rows.max(1));
    let tiles = cols.div_ceil(THREADS as usize);
    WeightGradPlan {
        chunks,
        rows_per_chunk: rows.div_ceil(chunks),
        partial: linear(tiles, chunks, THREADS),
        sum: linear(tiles, 1, THREADS),
    }
}

/// Cross-entropy: a block of 256 threads per row of logits.
pub fn cross_entropy_rows(rows: usize) -> LaunchShape {
    block_per_row(rows, 256)
}

/// The mean of the per-row losses: one block of 1024 threads (kernels/cross_entropy.cu's `mean` sums in a
/// tree over a power-of-two block).
pub fn mean() -> LaunchShape {
    block_per_row(1, 1024)
}

/// The embedding's gradient: block (token, column tile).
pub fn embedding_backward(vocab: usize, cols: usize) -> LaunchShape {
    linear(vocab, cols.div_ceil(THREADS as usize), THREADS)
}

/// Partial sums of squares per gradient buffer: a fixed grid, so the order of additions never changes.
pub const NORM_BLOCKS: usize = 128;

pub fn sum_squares() -> LaunchShape {
    linear(NORM_BLOCKS, 1, THREADS)
}

/// One thread's work (root_of_sum adds the partial sums in index order).
pub fn single_thread() -> LaunchShape {
    linear(1, 1, 1)
}

/// Query rows per block of the flash attention kernels (kernels/attention.cu): a warp per row, each
/// warp taking ATTENTION_ROWS_PER_WARP rows.
pub const ATTENTION_WARPS: usize = 4;
pub const ATTENTION_ROWS_PER_WARP: usize = 4;
pub const ATTENTION_QUERY_TILE: usize = ATTENTION_WARPS * ATTENTION_ROWS_PER_WARP;
/// Keys per block of the key/value gradient kernel: a warp per ATTENTION_KEYS_PER_WARP keys.
pub const ATTENTION_KEYS_PER_WARP: usize = 4;
pub const ATTENTION_KEY_TILE: usize = ATTENTION_WARPS * ATTENTION_KEYS_PER_WARP;

/// The forward pass and the query gradient: block (query tile, batch x group).
pub fn attention_query_tiles(rows: usize, batch_groups: usize) -> LaunchShape {
    linear(rows.div_ceil(ATTENTION_QUERY_TILE), batch_groups, 32 * ATTENTION_WARPS as u32)
}

/// The key and value gradients: block (key tile, batch x group).
pub fn attention_key_tiles(keys: usize, batch_groups: usize) -> LaunchShape {
    linear(keys.div_ceil(ATTENTION_KEY_TILE), batch_groups, 32 * ATTENTION_WARPS as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_what_a_device_refuses() {
        assert!(block_per_row(3, 1024).check(&H200, false).is_ok());
        assert!(block_per_row(3, 1025).check(&H200, false).unwrap_err().contains("1025 threads"));
        let mut big = block_per_row(1, 128);
        big.shared_bytes = 64 * 1024;
        assert!(big.check(&H200, false).unwrap_err().contains("without the opt-in"));
        assert!(big.check(&H200, true).is_ok());
        assert!(linear(1, 70_000, 32).check(&H200, false).is_err());
        assert!(linear(0, 1, 32).check(&H200, false).is_err());
    }
}
