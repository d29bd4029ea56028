//! The kernel check runs on the CPU too (there it compares the CPU kernels with themselves), so CI keeps
//! the check itself working for the GPU machine, where it is the only test of the CUDA kernels.

use candle_core::Device;
use minilm_core::kernel_check::{run, Shapes};

#[test]
fn the_kernel_check_covers_every_op_and_passes_on_the_cpu() {
    let rows = run(&Device::Cpu, Shapes::Small);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    for op in ["rms_norm_backward", "causal_softmax_backward", "swiglu_backward", "cross_entropy_with_grad", "embedding_backward", "adamw", "global grad norm", "whole step"] {
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
