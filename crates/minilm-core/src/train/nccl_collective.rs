//! The GPU engine of data-parallel training: NCCL through cudarc (the `cuda` feature; libnccl.so.2 is
//! loaded when a run first calls it). Rank 0 makes NCCL's id (`unique_id`) and the others receive it
//! through the rendezvous of ts/train/rendezvous.ts; each rank then joins with its own GPU. Built, never
//! run on two GPUs (none here has them): scripts/gpu-check.mjs runs one rank on one GPU.
//!
//! The sums run on a stream of their own, so that a bucket of gradients is summed while candle's stream
//! goes on with the backward pass (gradient_buckets.rs). The two streams are ordered by hand: a sum waits
//! for what candle's stream had queued when it started, and candle's stream waits for every sum at
//! `wait_for_sums`. cudarc could order them itself, with events on every buffer, but its events are per
//! buffer, and the buckets are ranges of one buffer that the backward pass goes on writing into: the
//! pass would wait for each sum, and nothing would overlap. So event tracking is off once a rank joins;
//! nothing else in minilm uses a second stream.

use std::ffi::c_char;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::Arc;

use candle_core::cuda_backend::cudarc::driver::sys::CUdeviceptr;
use candle_core::cuda_backend::cudarc::driver::{CudaStream, DevicePtr, DeviceRepr};
use candle_core::cuda_backend::cudarc::nccl::{result, sys, NcclType};
use candle_core::cuda_backend::{CudaDType, CudaDevice, WrapErr};
use candle_core::{DType, Device, Tensor};

use super::collective::{share_through_host, Collective};
use crate::error::{Error, Result};
use crate::model::fused::cuda::view;

/// NCCL's id of a new group of ranks: 128 bytes for rank 0 to send to the others.
pub fn unique_id() -> Result<Vec<u8>> {
    let id = result::get_uniqueid()
        .map_err(|e| Error::usage(format!("NCCL could not make a group id (is libnccl.so.2 on the library path?): {e:?}")))?;
    Ok(id.internal.iter().map(|&c| c as u8).collect())
}

/// This rank's communicator and the stream its sums run on.
pub struct NcclCollective {
    comm: sys::ncclComm_t,
    rank: usize,
    world: usize,
    /// The GPU, and candle's stream on it, where the model runs.
    device: CudaDevice,
    /// Where the sums run.
    stream: Arc<CudaStream>,
    bucket_elements: Option<usize>,
}

// SAFETY: the communicator is used by one thread at a time (the trainer that owns it sits behind a
// mutex in minilm-node), which is all NCCL asks; it is not Send only because it is a raw handle.
unsafe impl Send for NcclCollective {}

impl NcclCollective {
    /// Joins the group `id` names as `rank` of `world`, on `device`; blocks until every rank has joined.
    /// With `bucket_elements`, the gradient is summed in buckets of that many elements during the
    /// backward pass; without, whole after it.
    pub fn join(device: &Device, id: &[u8], rank: usize, world: usize, bucket_elements: Option<usize>) -> Result<Self> {
        let Device::Cuda(cuda) = device else { return Err(Error::usage("NCCL sums on GPUs: this rank's device is the CPU")) };
        let bytes: [u8; 128] = id.try_into().map_err(|_| Error::usage(format!("an NCCL id has 128 bytes, this one {}", id.len())))?;
        let id = sys::ncclUniqueId { internal: bytes.map(|b| b as c_char) };
        // SAFETY: the streams are ordered by hand (the module's comment says how), before any sum runs.
        unsafe { cuda.disable_event_tracking() };
        let stream = cuda.cuda_stream().fork().w()?;
        let mut comm = MaybeUninit::uninit();
        // SAFETY: comm_init_rank writes the communicator before it returns success.
        let comm = unsafe {
            result::comm_init_rank(comm.as_mut_ptr(), world as i32, id, rank as i32)
                .map_err(|e| Error::usage(format!("rank {rank} of {world} could not join the NCCL group: {e:?}")))?;
            comm.assume_init()
        };
        Ok(NcclCollective { comm, rank, world, device: cuda.clone(), stream, bucket_elements })
    }

    /// Queues the sum over the ranks of the `count` values at `buffer`, in place, on the sums' stream.
    fn all_reduce<T: NcclType>(&self, buffer: CUdeviceptr, count: usize) -> Result<()> {
        // SAFETY: the caller holds `count` values of T at `buffer` on this rank's GPU until the stream
        // has run the sum (wait_for_sums, or the synchronous copy of sum_host).
        let status = unsafe {
            result::all_reduce(
                buffer as *const _,
                buffer as *mut _,
                count,
                T::as_nccl_type(),
                sys::ncclRedOp_t::ncclSum,
                self.comm,
                self.stream.cu_stream() as _,
            )
        };
        status.map(|_| ()).map_err(|e| Error::usage(format!("NCCL sum on rank {} failed: {e:?}", self.rank)))
    }

    /// Queues rank `root`'s `count` values at `buffer` into the other ranks' `buffer`, on the sums' stream.
    fn broadcast<T: NcclType>(&self, buffer: CUdeviceptr, count: usize, root: usize) -> Result<()> {
        // SAFETY: as all_reduce's.
        let status = unsafe {
            result::broadcast(
                buffer as *const _,
                buffer as *mut _,
                count,
                T::as_nccl_type(),
                root as i32,
                self.comm,
                self.stream.cu_stream() as _,
            )
        };
        status.map(|_| ()).map_err(|e| Error::usage(format!("NCCL broadcast from rank {root} on rank {} failed: {e:?}", self.rank)))
    }

    /// Host values through the GPU, where NCCL's buffers must be: copied in, `collective` queued on their
    /// pointer and count, copied back once it has run.
    fn through_gpu<T: DeviceRepr>(&self, values: &mut [T], collective: impl FnOnce(CUdeviceptr, usize) -> Result<()>) -> Result<()> {
        let candle = self.device.cuda_stream();
        let buffer = candle.clone_htod(values).w()?;
        self.stream.join(&candle).w()?;
        let (pointer, _used) = buffer.device_ptr(&self.stream);
        collective(pointer, values.len())?;
        self.wait_for_sums()?;
        candle.memcpy_dtoh(&buffer, values).w()?;
        Ok(())
    }

    /// Queues each rank's shard of `buffer` (values of type T) into the other ranks' buffer.
    fn broadcast_shards<T: CudaDType + NcclType>(&self, buffer: &Tensor, shards: &[Range<usize>]) -> Result<()> {
        let (storage, layout) = buffer.storage_and_layout();
        let whole = view::<T>(&storage, layout)?;
        for (root, shard) in shards.iter().enumerate() {
            let piece = whole.slice(shard.clone());
            let (pointer, _used) = piece.device_ptr(&self.stream);
            self.broadcast::<T>(pointer, shard.len(), root)?;
        }
        Ok(())
    }
}

impl Drop for NcclCollective {
    fn drop(&mut self) {
        // SAFETY: the communicator is not used after this. Abort, as cudarc's Comm does: it does not
        // wait for ranks that are gone.
        let _ = unsafe { result::comm_abort(self.comm) };
    }
}

impl Collective for NcclCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.world
    }

    fn sum_f32(&self, values: &mut [f32]) -> Result<()> {
        self.through_gpu(values, |pointer, count| self.all_reduce::<f32>(pointer, count))
    }

    fn sum_f64(&self, values: &mut [f64]) -> Result<()> {
        self.through_gpu(values, |pointer, count| self.all_reduce::<f64>(pointer, count))
    }

    fn broadcast_f32(&self, values: &mut [f32], root: usize) -> Result<()> {
        self.through_gpu(values, |pointer, count| self.broadcast::<f32>(pointer, count, root))
    }

    /// On the GPU: one broadcast per shard, from its rank, once candle's stream has run the update. A
    /// buffer in host memory (the optimizer's state gathered for a checkpoint) goes through the host.
    fn share_shards(&self, buffer: &Tensor, shards: &[Range<usize>]) -> Result<()> {
        if !buffer.device().is_cuda() {
            return share_through_host(self, buffer, shards);
        }
        self.stream.join(&self.device.cuda_stream()).w()?;
        match buffer.dtype() {
            DType::F32 => self.broadcast_shards::<f32>(buffer, shards)?,
            DType::BF16 => self.broadcast_shards::<half::bf16>(buffer, shards)?,
            other => return Err(Error::usage(format!("NCCL shares float32 or bfloat16 shards, not {other:?}"))),
        }
        self.wait_for_sums()
    }

    /// Starts NCCL's ring sum of the range, whose result every rank receives alike, once candle's stream
    /// has run what it had queued (the gradients of the range's parameters).
    fn sum_in_place(&self, grad: &Tensor, range: Range<usize>) -> Result<()> {
        self.stream.join(&self.device.cuda_stream()).w()?;
        let (storage, layout) = grad.storage_and_layout();
        let bucket = view::<f32>(&storage, layout)?.slice(range.clone());
        let (pointer, _used) = bucket.device_ptr(&self.stream);
        self.all_reduce::<f32>(pointer, range.len())
    }

    fn wait_for_sums(&self) -> Result<()> {
        Ok(self.device.cuda_stream().join(&self.stream).w()?)
    }

    fn bucket_elements(&self) -> Option<usize> {
        self.bucket_elements
    }

    /// On the GPU: a float32 copy summed in place.
    fn sum_gradient(&self, grad: &Tensor) -> Result<Tensor> {
        let sums = grad.to_dtype(DType::F32)?.copy()?;
        self.sum_in_place(&sums, 0..sums.elem_count())?;
        self.wait_for_sums()?;
        Ok(sums.to_dtype(grad.dtype())?)
    }
}
