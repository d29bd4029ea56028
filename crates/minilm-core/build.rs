//! Under the `cuda` feature, compiles the CUDA C kernels in kernels/ to PTX with nvcc, one module per
//! file, for the Rust side to embed (model/fused/cuda.rs). Without the feature there is nothing to do, so
//! the CPU build needs no CUDA anywhere.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=kernels");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let nvcc = std::env::var("NVCC").unwrap_or_else(|_| match std::env::var("CUDA_HOME") {
        Ok(home) => format!("{home}/bin/nvcc"),
        Err(_) => "nvcc".into(),
    });
    // The same compute capability candle-kernels compiles for (scripts/cuda/build.sh sets 90: H100 / H200).
    let arch = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".into());
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    for module in ["rms_norm", "heads", "causal_softmax", "swiglu", "cross_entropy", "embedding", "optimizer", "attention"] {
        let source = format!("kernels/{module}.cu");
        let status = Command::new(&nvcc)
            .args(["-ptx", "-O3", &format!("-arch=sm_{arch}"), "-o"])
            .arg(out.join(format!("{module}.ptx")))
            .arg(&source)
            .status()
            .unwrap_or_else(|e| panic!("cannot run nvcc ({nvcc}): {e}; scripts/cuda/build.sh sets it up"));
        assert!(status.success(), "nvcc failed on {source}");
    }
}
