//! `npm test`'s run of the kernel check (src/main.rs): every CUDA kernel entry point on the CPU under
//! the emulator against its CPU twin. It runs the check as its own process, because AddressSanitizer's
//! runtime has to be loaded before anything else in the process (the check preloads it for itself).

use std::process::Command;

#[test]
fn every_kernel_entry_point_matches_its_cpu_twin_under_the_emulator() {
    let output = Command::new(env!("CARGO_BIN_EXE_minilm-kernel-emulator")).output().expect("the kernel check starts");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the emulated kernel check failed (lines above)");
}
