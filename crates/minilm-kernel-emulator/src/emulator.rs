//! The emulated kernels from Rust: loading their library, launching an entry point over a grid, and
//! the element types and host buffers the checks hand them.

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;

use minilm_core::model::fused::launch::{LaunchShape, H200};

type LaunchFn = unsafe extern "C" fn(*const u32, *const u32, extern "C" fn(*mut c_void), *mut c_void, *mut c_char, usize) -> c_int;

/// The kernels compiled for the host (build-kernels.sh), loaded from a shared library.
pub struct EmulatedKernels {
    library: libloading::Library,
}

impl EmulatedKernels {
    /// The library build.rs compiled from crates/minilm-core/kernels.
    pub fn built() -> Result<Self, String> {
        Self::open(Path::new(env!("MINILM_EMULATED_KERNELS")))
    }

    pub fn open(path: &Path) -> Result<Self, String> {
        // SAFETY: the library is ours (build-kernels.sh); loading it runs no initialisers beyond C++ statics.
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        Ok(EmulatedKernels { library })
    }

    /// The entry point `name` as a function of type F.
    ///
    /// # Safety
    /// F must be the kernel's parameter list, as the CUDA launcher pushes it.
    pub unsafe fn entry<F: Copy>(&self, name: &str) -> Result<F, String> {
        let symbol = unsafe { self.library.get::<F>(name.as_bytes()) }.map_err(|_| format!("no kernel named {name}"))?;
        Ok(*symbol)
    }

    /// Runs `body` once per thread of `shape`, after checking the shape against an H200's limits. The
    /// body calls the kernel's entry point with its arguments.
    pub fn launch<F: Fn()>(&self, shape: LaunchShape, body: F) -> Result<(), String> {
        shape.check(&H200, false)?;
        extern "C" fn trampoline<F: Fn()>(context: *mut c_void) {
            // SAFETY: `context` is the `&F` passed below, alive for the whole launch.
            let body = unsafe { &*(context as *const F) };
            body();
        }
        // SAFETY: the runtime's launch function has this signature (emulator/runtime.cpp).
        let launch: LaunchFn = unsafe { self.entry("minilm_emu_launch")? };
        let grid = [shape.grid.0, shape.grid.1, shape.grid.2];
        let block = [shape.block.0, shape.block.1, shape.block.2];
        let mut error = vec![0 as c_char; 1024];
        let context = &body as *const F as *mut c_void;
        // SAFETY: grid and block hold three values; the error buffer holds error.len() bytes.
        let failed = unsafe { launch(grid.as_ptr(), block.as_ptr(), trampoline::<F>, context, error.as_mut_ptr(), error.len()) };
        if failed != 0 {
            let bytes: Vec<u8> = error.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
            return Err(String::from_utf8_lossy(&bytes).into_owned());
        }
        Ok(())
    }
}

/// A kernel's element type: float32 or bfloat16 (stored as CUDA stores it, 16 bits).
pub trait Element: Copy + 'static {
    /// The entry point's suffix (`rms_norm_forward_f32`).
    const SUFFIX: &'static str;
    /// The largest relative error a check accepts against the float32 twin.
    const TOLERANCE: f64;
    fn from_f32(v: f32) -> Self;
    fn to_f32(self) -> f32;
}

impl Element for f32 {
    const SUFFIX: &'static str = "f32";
    const TOLERANCE: f64 = 2e-5;
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_f32(self) -> f32 {
        self
    }
}

impl Element for half::bf16 {
    const SUFFIX: &'static str = "bf16";
    /// Outputs are rounded to 8 bits of mantissa (2^-8 relative) after float32 arithmetic.
    const TOLERANCE: f64 = 1.2e-2;
    fn from_f32(v: f32) -> Self {
        half::bf16::from_f32(v)
    }
    fn to_f32(self) -> f32 {
        half::bf16::to_f32(self)
    }
}

/// Values as a kernel's input of type E (rounded as the GPU rounds), and back to float32: the twin gets
/// exactly what the kernel gets.
pub fn as_element<E: Element>(values: &[f32]) -> (Vec<E>, Vec<f32>) {
    let converted: Vec<E> = values.iter().map(|&v| E::from_f32(v)).collect();
    let exact = converted.iter().map(|v| v.to_f32()).collect();
    (converted, exact)
}

/// An output buffer of `len` elements filled with NaN, so that an element the kernel never writes fails
/// the comparison. Exactly `len` long, so that AddressSanitizer sees a write past its end.
pub fn poisoned<E: Element>(len: usize) -> Vec<E> {
    vec![E::from_f32(f32::NAN); len]
}

pub fn to_f32<E: Element>(values: &[E]) -> Vec<f32> {
    values.iter().map(|v| v.to_f32()).collect()
}

/// The largest difference between `got` and `want`, relative to the largest magnitude in `want`;
/// infinite when a length differs or a value is NaN where the twin's is not.
pub fn relative_error(got: &[f32], want: &[f32]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    let scale = want.iter().fold(0f64, |m, &v| m.max((v as f64).abs())).max(1e-30);
    got.iter().zip(want).fold(0f64, |worst, (&g, &w)| {
        if g.is_nan() != w.is_nan() {
            return f64::INFINITY;
        }
        if g.is_nan() {
            return worst;
        }
        worst.max((g as f64 - w as f64).abs() / scale)
    })
}

/// Reproducible inputs: a xorshift generator of values in [-1, 1).
pub struct Inputs(u64);

impl Inputs {
    pub fn new(seed: u64) -> Self {
        Inputs(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn values(&mut self, len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|_| self.uniform() * scale).collect()
    }

    pub fn below(&mut self, n: u32) -> u32 {
        ((self.uniform() + 1.0) * 0.5 * n as f32) as u32 % n
    }
}
