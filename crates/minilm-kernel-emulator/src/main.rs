//! `npm run test:kernels`: every CUDA kernel entry point run on the CPU under the emulator against its
//! CPU twin, a line each; exits 1 on any failure. `--kernels LIB.so` loads another build of the kernels
//! (scripts/kernels/plant-bugs.sh passes copies with a bug planted).

use std::path::PathBuf;
use std::process::ExitCode;

use minilm_kernel_emulator::{cases, EmulatedKernels, Report};

/// Set in the environment of the run that has AddressSanitizer's runtime preloaded.
const PRELOADED: &str = "MINILM_EMULATOR_ASAN_PRELOADED";

fn main() -> ExitCode {
    let runtime = env!("MINILM_EMULATOR_ASAN_RUNTIME");
    if !runtime.is_empty() && std::env::var_os(PRELOADED).is_none() {
        return run_with_asan(runtime);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kernels = match args.as_slice() {
        [] => EmulatedKernels::built(),
        [flag, path] if flag == "--kernels" => EmulatedKernels::open(&PathBuf::from(path)),
        _ => {
            eprintln!("usage: minilm-kernel-emulator [--kernels LIB.so]");
            return ExitCode::from(2);
        }
    };
    let kernels = match kernels {
        Ok(kernels) => kernels,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let mut report = Report::new();
    cases::run_all(&kernels, &mut report);
    for line in report.lines() {
        println!("{line}");
    }
    let verdict = if report.passed() { "all passed" } else { "FAILED" };
    println!(
        "{} kernel entry points under the CPU emulator in {:.1} s: {verdict}",
        report.entries().len(),
        started.elapsed().as_secs_f64()
    );
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs this program again with AddressSanitizer's runtime preloaded (it must come before every other
/// library for the instrumented kernels to load) and leak checks off (the process's own allocations at
/// exit are not the kernels' business).
fn run_with_asan(runtime: &str) -> ExitCode {
    let program = std::env::current_exe().expect("the path of this program");
    let options = std::env::var("ASAN_OPTIONS").unwrap_or_else(|_| "detect_leaks=0".into());
    let status = std::process::Command::new(program)
        .args(std::env::args_os().skip(1))
        .env("LD_PRELOAD", runtime)
        .env("ASAN_OPTIONS", options)
        .env(PRELOADED, "1")
        .status();
    match status.map(|s| s.code()) {
        Ok(Some(0)) => ExitCode::SUCCESS,
        Ok(Some(code)) => ExitCode::from(code.clamp(1, 255) as u8),
        Ok(None) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cannot start the kernel check with AddressSanitizer: {e}");
            ExitCode::from(2)
        }
    }
}
