//! What the fused kernels' CUDA twins share (built with the `cuda` feature only): the PTX modules that
//! build.rs compiles from kernels/*.cu, loading a kernel by name and element type, device views of a
//! tensor's elements, output buffers, and launch shapes.
//!
//! Kernels are launched on candle's stream for the device, so they order with candle's own ops (cuBLAS
//! matmuls, copies) without any synchronisation. A launch returns an error at once when the launch itself
//! fails; a fault inside a kernel surfaces at the next synchronisation, which the kernel check does after
//! every kernel.

use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Arc;

use candle_core::cuda_backend::cudarc::driver::{CudaFunction, CudaStream, DeviceRepr, LaunchArgs};
pub use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView, LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::CudaDType;
pub use candle_core::cuda_backend::WrapErr;
use candle_core::op::BackpropOp;
use candle_core::{bail, CudaDevice, CudaStorage, Device, Layout, Result, Shape, Storage, Tensor};

/// A kernels/*.cu file compiled to PTX.
#[derive(Clone, Copy)]
pub enum Module {
    RmsNorm,
    Heads,
    CausalSoftmax,
    Swiglu,
    CrossEntropy,
    Embedding,
    Optimizer,
    Attention,
}

impl Module {
    fn name(self) -> &'static str {
        match self {
            Module::RmsNorm => "minilm_rms_norm",
            Module::Heads => "minilm_heads",
            Module::CausalSoftmax => "minilm_causal_softmax",
            Module::Swiglu => "minilm_swiglu",
            Module::CrossEntropy => "minilm_cross_entropy",
            Module::Embedding => "minilm_embedding",
            Module::Optimizer => "minilm_optimizer",
            Module::Attention => "minilm_attention",
        }
    }

    fn ptx(self) -> &'static str {
        match self {
            Module::RmsNorm => include_str!(concat!(env!("OUT_DIR"), "/rms_norm.ptx")),
            Module::Heads => include_str!(concat!(env!("OUT_DIR"), "/heads.ptx")),
            Module::CausalSoftmax => include_str!(concat!(env!("OUT_DIR"), "/causal_softmax.ptx")),
            Module::Swiglu => include_str!(concat!(env!("OUT_DIR"), "/swiglu.ptx")),
            Module::CrossEntropy => include_str!(concat!(env!("OUT_DIR"), "/cross_entropy.ptx")),
            Module::Embedding => include_str!(concat!(env!("OUT_DIR"), "/embedding.ptx")),
            Module::Optimizer => include_str!(concat!(env!("OUT_DIR"), "/optimizer.ptx")),
            Module::Attention => include_str!(concat!(env!("OUT_DIR"), "/attention.ptx")),
        }
    }
}

/// An element type the kernels are instantiated for; `SUFFIX` ends their extern "C" names.
pub trait Element: CudaDType + DeviceRepr + 'static {
    const SUFFIX: &'static str;
}

impl Element for f32 {
    const SUFFIX: &'static str = "f32";
}

impl Element for half::bf16 {
    const SUFFIX: &'static str = "bf16";
}

/// Calls `$f::<T>(args)` with T the element type of `$dtype` (float32 or bfloat16).
macro_rules! by_dtype {
    ($dtype:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $dtype {
            candle_core::DType::F32 => $f::<f32>($($arg),*),
            candle_core::DType::BF16 => $f::<half::bf16>($($arg),*),
            other => candle_core::bail!("the CUDA kernels take float32 or bfloat16, not {other:?}"),
        }
    };
}
pub(crate) use by_dtype;

/// A loaded kernel and the stream it runs on (candle's, for the device).
pub struct Kernel {
    func: CudaFunction,
    stream: Arc<CudaStream>,
}

impl Kernel {
    /// The kernel `name` of `module` (loaded once per device, then cached by candle).
    pub fn load(device: &CudaDevice, module: Module, name: &str) -> Result<Self> {
        let func = device.get_or_load_custom_func(name, module.name(), module.ptx())?.into_cuda_function();
        Ok(Kernel { func, stream: device.cuda_stream() })
    }

    /// The kernel template `name` instantiated for T (`name_f32`, `name_bf16`).
    pub fn typed<T: Element>(device: &CudaDevice, module: Module, name: &str) -> Result<Self> {
        Self::load(device, module, &format!("{name}_{}", T::SUFFIX))
    }

    /// Arguments are pushed in the kernel's parameter order, then `launch` queues it.
    pub fn builder(&self) -> LaunchArgs<'_> {
        self.stream.launch_builder(&self.func)
    }
}

pub fn cuda_device(x: &Tensor) -> Result<CudaDevice> {
    match x.device() {
        Device::Cuda(device) => Ok(device.clone()),
        other => bail!("expected a tensor on the GPU, found one on {other:?}"),
    }
}

/// The elements of a contiguous tensor's storage on the GPU, as T.
pub fn view<'a, T: CudaDType>(storage: &'a Storage, layout: &Layout) -> Result<CudaView<'a, T>> {
    let Storage::Cuda(storage) = storage else { bail!("expected a tensor on the GPU") };
    let Some((start, end)) = layout.contiguous_offsets() else { bail!("the CUDA kernels take contiguous tensors") };
    Ok(storage.as_cuda_slice::<T>()?.slice(start..end))
}

static POISON_OUTPUTS: AtomicBool = AtomicBool::new(false);

/// While on, every output buffer is filled with NaN before its kernel runs, so that an element a kernel
/// fails to write shows up in a comparison. For the kernel check; it costs a pass per output.
pub fn set_poison_outputs(on: bool) {
    POISON_OUTPUTS.store(on, Ordering::SeqCst);
}

/// An output buffer of `len` elements. Its contents are undefined until a kernel writes them (NaN while
/// outputs are poisoned).
pub fn output<T: Element>(device: &CudaDevice, len: usize) -> Result<CudaSlice<T>> {
    // SAFETY: every caller launches a kernel that writes all `len` elements before the buffer is read;
    // the kernel check's poisoning verifies that.
    let buffer = unsafe { device.alloc::<T>(len)? };
    if POISON_OUTPUTS.load(Ordering::SeqCst) && len > 0 {
        let bytes = len * std::mem::size_of::<T>();
        let kernel = Kernel::load(device, Module::Optimizer, "poison")?;
        let mut builder = kernel.builder();
        builder.arg(&buffer);
        builder.arg(&bytes);
        // SAFETY: the kernel writes `bytes` bytes of `buffer`, which holds exactly that many.
        unsafe { builder.launch(launch_config(grid_stride(bytes))?) }.w()?;
    }
    Ok(buffer)
}

/// A tensor over a buffer a kernel wrote, outside autograd (these ops have their own backward).
pub fn tensor<T: Element>(buffer: CudaSlice<T>, device: &CudaDevice, shape: impl Into<Shape>) -> Tensor {
    let storage = Storage::Cuda(CudaStorage::wrap_cuda_slice(buffer, device.clone()));
    Tensor::from_storage(storage, shape, BackpropOp::none(), false)
}

pub use super::launch::{grid_stride, LaunchShape};

/// cudarc's launch configuration for `shape`, refused first if an H100 / H200 would refuse it.
pub fn launch_config(shape: LaunchShape) -> Result<LaunchConfig> {
    if let Err(message) = shape.check(&super::launch::H200, false) {
        bail!("kernel launch: {message}");
    }
    Ok(LaunchConfig { grid_dim: shape.grid, block_dim: shape.block, shared_mem_bytes: shape.shared_bytes })
}

/// Queues `kernel` with `shape` (a launch::LaunchShape) and the arguments in the kernel's parameter
/// order, each a reference to a view, a buffer or a scalar that outlives the call.
macro_rules! launch {
    ($kernel:expr, $shape:expr, $($arg:expr),+ $(,)?) => {{
        use $crate::model::fused::cuda::{PushKernelArg, WrapErr};
        let config = $crate::model::fused::cuda::launch_config($shape)?;
        let kernel = &$kernel;
        let mut builder = kernel.builder();
        $( builder.arg($arg); )+
        // SAFETY: each kernel's parameters are the pointers and scalars its caller pushes, in order, and
        // every kernel bounds its indices by the sizes it is given.
        unsafe { builder.launch(config) }.w().map(|_| ())
    }};
}
pub(crate) use launch;
