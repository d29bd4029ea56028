//! The kernel check runs on the CPU too (there it compares the CPU kernels with themselves), so CI keeps
//! the check itself working for the GPU machine, where it is the only test of the CUDA kernels.

use candle_core::Device;
use minilm_core::kernel_check::{run, Shapes};

#[test]
fn the_kernel_check_covers_every_op_and_passes_on_the_cpu() {
    let rows = run(&Device::Cpu, Shapes::Small);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    for op in [
        "rms_norm_backward",
        "causal_softmax_backward",
        "swiglu_backward",
        "cross_entropy_with_grad",
        "embedding_backward",
        "adamw",
        "global grad norm",
        "whole step",
        "SFT step",
    ] {
        assert!(names.iter().any(|n| n.starts_with(op)), "no row for {op}: {names:?}");
    }
    // The CPU has float32 kernels only.
    assert!(rows.iter().all(|r| r.dtype == "f32"));
    for row in &rows {
        assert!(row.passed, "{row:?}");
        assert_eq!(row.relative_error, 0.0, "the CPU against itself: {row:?}");
        assert!(!row.shape.is_empty() && row.limit > 0.0);
    }
}

#[test]
fn the_step_profile_times_every_part_of_a_micro_batch() {
    let parts = minilm_core::step_profile::profile(&Device::Cpu, candle_core::DType::F32, Shapes::Small).unwrap();
    for part in [
        "matmul attn.qkv",
        "matmul lm_head",
        "attention products",
        "causal softmax",
        "rms_norm",
        "heads",
        "swiglu",
        "classifier",
        "embedding",
        "AdamW",
    ] {
        assert!(parts.iter().any(|p| p.part.starts_with(part)), "no part {part}");
    }
    for p in &parts {
        assert!(p.ms_each > 0.0 && (p.ms_per_micro_batch - p.ms_each * p.per_micro_batch).abs() < 1e-9, "{p:?}");
    }
}
