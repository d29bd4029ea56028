//! The GPU engine of data-parallel training: NCCL through cudarc (the `cuda` feature; libnccl.so.2 is
//! loaded when a run first calls it). Rank 0 makes NCCL's id (`unique_id`) and the others receive it
//! through the rendezvous of ts/train/rendezvous.ts; each rank then joins with its own GPU. Built, never
//! run on two GPUs (none here has them): scripts/gpu-check.mjs runs one rank on one GPU.

use std::ffi::c_char;

use candle_core::cuda_backend::cudarc::driver::DeviceRepr;
use candle_core::cuda_backend::cudarc::nccl::safe::{Comm, Id, NcclType, ReduceOp};
use candle_core::cuda_backend::{CudaDevice, WrapErr};
use candle_core::{DType, Device, Tensor};

use super::collective::Collective;
use crate::error::{Error, Result};
use crate::model::fused::cuda::{tensor, view};

/// NCCL's id of a new group of ranks: 128 bytes for rank 0 to send to the others.
pub fn unique_id() -> Result<Vec<u8>> {
    let id =
        Id::new().map_err(|e| Error::usage(format!("NCCL could not make a group id (is libnccl.so.2 on the library path?): {e:?}")))?;
    Ok(id.internal().iter().map(|&c| c as u8).collect())
}

/// This rank's communicator, on its GPU's stream (the one candle and the kernels run on, so the sums
/// order with the backward pass without a synchronisation).
pub struct NcclCollective {
    comm: Comm,
    device: CudaDevice,
}

// SAFETY: the communicator is used by one thread at a time (the trainer that owns it sits behind a
// mutex in minilm-node), which is all NCCL asks; Comm is not Send only because it holds a raw handle.
unsafe impl Send for NcclCollective {}

impl NcclCollective {
    /// Joins the group `id` names as `rank` of `world`, on `device`. Blocks until every rank has joined.
    pub fn join(device: &Device, id: &[u8], rank: usize, world: usize) -> Result<Self> {
        let Device::Cuda(cuda) = device else { return Err(Error::usage("NCCL sums on GPUs: this rank's device is the CPU")) };
        let bytes: [u8; 128] = id.try_into().map_err(|_| Error::usage(format!("an NCCL id has 128 bytes, this one {}", id.len())))?;
        let comm = Comm::from_rank(cuda.cuda_stream(), rank, world, Id::uninit(bytes.map(|b| b as c_char)))
            .map_err(|e| Error::usage(format!("rank {rank} of {world} could not join the NCCL group: {e:?}")))?;
        Ok(NcclCollective { comm, device: cuda.clone() })
    }

    /// Host values summed through the GPU, where NCCL's buffers must be.
    fn sum_host<T: NcclType + DeviceRepr>(&self, values: &mut [T]) -> Result<()> {
        let stream = self.device.cuda_stream();
        let mut buffer = stream.clone_htod(values).w()?;
        self.nccl(self.comm.all_reduce_in_place(&mut buffer, &ReduceOp::Sum))?;
        stream.memcpy_dtoh(&buffer, values).w()?;
        Ok(())
    }

    fn nccl(&self, result: std::result::Result<impl Sized, impl std::fmt::Debug>) -> Result<()> {
        result.map(|_| ()).map_err(|e| Error::usage(format!("NCCL sum on rank {} failed: {e:?}", self.comm.rank())))
    }
}

impl Collective for NcclCollective {
    fn rank(&self) -> usize {
        self.comm.rank()
    }

    fn world(&self) -> usize {
        self.comm.world_size()
    }

    fn sum_f32(&self, values: &mut [f32]) -> Result<()> {
        self.sum_host(values)
    }

    fn sum_f64(&self, values: &mut [f64]) -> Result<()> {
        self.sum_host(values)
    }

    /// On the GPU, in float32: NCCL's ring sum, whose result every rank receives alike.
    fn sum_gradient(&self, grad: &Tensor) -> Result<Tensor> {
        let grad32 = grad.to_dtype(DType::F32)?.contiguous()?;
        let (storage, layout) = grad32.storage_and_layout();
        let sendbuff = view::<f32>(&storage, layout)?;
        // SAFETY: all_reduce writes every element before anything reads the buffer.
        let mut sums = unsafe { self.device.alloc::<f32>(grad32.elem_count())? };
        self.nccl(self.comm.all_reduce(&sendbuff, &mut sums, &ReduceOp::Sum))?;
        drop(storage);
        Ok(tensor(sums, &self.device, grad32.elem_count()).to_dtype(grad.dtype())?)
    }
}
