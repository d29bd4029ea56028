//! The token embedding's gradient: row v of the table's gradient is the sum of the input gradient over
//! the positions whose token is v. Summed in position order on both devices, so the CPU and the GPU
//! give the same float32 bits for float32 inputs, and every run gives the same bits. (candle's
//! index_add would do on the CPU, but its CUDA kernel runs one thread per column over every position:
//! 768 threads for a whole micro-batch.)

use candle_core::{bail, DType, Device, Result, Tensor};

/// d_table (vocab, C) in float32, from the token ids (N, on the host) and dx (N, C).
pub fn embedding_backward(ids: &[u32], dx: &Tensor, vocab: usize) -> Result<Tensor> {
    let (rows, cols) = dx.dims2()?;
    if ids.len() != rows {
        bail!("embedding_backward: {} ids for {rows} rows of gradient", ids.len());
    }
    if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
        bail!("embedding_backward: token id {bad} is outside the vocabulary of {vocab}");
    }
    #[cfg(feature = "cuda")]
    if dx.device().is_cuda() {
        return gpu::embedding_backward(&Buckets::new(ids, vocab), &dx.contiguous()?, vocab);
    }
    let dx = dx.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let mut table = vec![0f32; vocab * cols];
    for (&id, row) in ids.iter().zip(&dx) {
        let out = &mut table[id as usize * cols..][..cols];
        out.iter_mut().zip(row).for_each(|(o, g)| *o += g);
    }
    Tensor::from_vec(table, (vocab, cols), &Device::Cpu)
}

/// Positions grouped by token, a counting sort: token v's positions, in increasing order, are
/// order[start[v]..start[v + 1]]. What the CUDA kernel reads (and the emulated test builds); the CPU loop
/// needs none.
pub struct Buckets {
    pub order: Vec<u32>,
    pub start: Vec<u32>,
}

impl Buckets {
    pub fn new(ids: &[u32], vocab: usize) -> Self {
        let mut start = vec![0u32; vocab + 1];
        for &id in ids {
            start[id as usize + 1] += 1;
        }
        for v in 0..vocab {
            start[v + 1] += start[v];
        }
        let mut next = start.clone();
        let mut order = vec![0u32; ids.len()];
        for (position, &id) in ids.iter().enumerate() {
            order[next[id as usize] as usize] = position as u32;
            next[id as usize] += 1;
        }
        Buckets { order, start }
    }
}

/// The CUDA twin, for float32 and bfloat16 gradients (kernels/embedding.cu).
#[cfg(feature = "cuda")]
mod gpu {
    use candle_core::{Result, Tensor};

    use super::Buckets;
    use crate::model::fused::cuda::{by_dtype, cuda_device, launch, output, tensor, view, Element, Kernel, Module};
    use crate::model::fused::launch;

    pub fn embedding_backward(buckets: &Buckets, dx: &Tensor, vocab: usize) -> Result<Tensor> {
        by_dtype!(dx.dtype(), run(buckets, dx, vocab))
    }

    fn run<T: Element>(buckets: &Buckets, dx: &Tensor, vocab: usize) -> Result<Tensor> {
        let device = cuda_device(dx)?;
        let cols = dx.dim(1)?;
        // Copied from pageable memory, which the driver stages at once: no wait for the GPU.
        let order = device.clone_htod(&buckets.order)?;
        let start = device.clone_htod(&buckets.start)?;
        let (dxs, dxl) = dx.storage_and_layout();
        let dxv = view::<T>(&dxs, dxl)?;
        let table = output::<f32>(&device, vocab * cols)?;
        let config = launch::embedding_backward(vocab, cols);
        let cols_arg = cols as i32;
        let kernel = Kernel::typed::<T>(&device, Module::Embedding, "embedding_backward")?;
        launch!(kernel, config, &dxv, &order, &start, &table, &cols_arg)?;
        Ok(tensor(table, &device, (vocab, cols)))
    }
}
