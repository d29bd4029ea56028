//! Builds minilm-core's CUDA kernels (every crates/*/kernels/*.cu) for the host, under the emulator in
//! emulator/, into a shared library the kernel test loads by path (build-kernels.sh does the compile).
//! AddressSanitizer's runtime must be the first library of the process for the instrumented library to
//! load: build.rs hands the runner its path, and the runner starts itself again with it preloaded.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let kernels = here.join("../minilm-core/kernels");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("libminilm_kernels_emulated.so");
    for path in ["../minilm-core/kernels", "emulator", "build-kernels.sh"] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-env-changed=MINILM_EMULATOR_ASAN");
    let status = Command::new("bash")
        .arg(here.join("build-kernels.sh"))
        .arg(&kernels)
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run bash for build-kernels.sh: {e}"));
    assert!(status.success(), "compiling the kernels for the emulator failed (build-kernels.sh, above)");
    println!("cargo:rustc-env=MINILM_EMULATED_KERNELS={}", out.display());
    let asan = if std::env::var("MINILM_EMULATOR_ASAN").as_deref() == Ok("0") {
        String::new()
    } else {
        let compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        let found = Command::new(&compiler).arg("-print-file-name=libasan.so").output().expect("cannot ask the C++ compiler for libasan");
        String::from_utf8(found.stdout).unwrap().trim().to_string()
    };
    println!("cargo:rustc-env=MINILM_EMULATOR_ASAN_RUNTIME={asan}");
}
