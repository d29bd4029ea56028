//! minilm's CUDA kernels run on the CPU, each entry point against its CPU twin (model/fused/ and
//! train/adamw_cpu.rs), under an emulation of CUDA's execution model (emulator/cuda_emulator.h says
//! what it emulates and what it cannot catch). `npm run test:kernels` runs src/main.rs, which prints
//! a line per entry point and fails on any mismatch, launch error or AddressSanitizer report.
//!
//! Every launch shape comes from minilm-core's model/fused/launch.rs, the functions the CUDA launcher
//! calls, and is checked against an H200's limits before it runs.

pub mod cases;
pub mod emulator;
pub mod report;

pub use emulator::EmulatedKernels;
pub use report::Report;
