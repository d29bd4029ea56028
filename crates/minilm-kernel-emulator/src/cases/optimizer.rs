//! kernels/optimizer.cu: AdamW against train/adamw_cpu.rs, the gradient norm's two passes against a
//! float64 sum, adding a gradient into a view of the flat gradient against model/fused/accumulate.rs,
//! and the poison fill.

use half::bf16;
use minilm_core::model::fused::launch;
use minilm_core::train::adamw_cpu::{self, Step};

use super::{tensor, values, OrMessage};
use crate::emulator::{as_element, poisoned, relative_error, Element, Inputs};
use crate::{EmulatedKernels, Report};

type AdamW = unsafe extern "C" fn(*mut f32, *const f32, *mut f32, *mut f32, usize, f32, f32, f32, f32, f32, f32);
type SumSquares<E> = unsafe extern "C" fn(*const E, usize, *mut f32);
type RootOfSum = unsafe extern "C" fn(*const f32, i32, *mut f32);
type Poison = unsafe extern "C" fn(*mut u8, usize);
type Accumulate<E> = unsafe extern "C" fn(*mut f32, *const E, usize);

pub fn run(kernels: &EmulatedKernels, report: &mut Report) {
    for n in [1000, 70_001] {
        check_adamw(kernels, report, n);
        check_norm::<f32>(kernels, report, n);
        check_norm::<bf16>(kernels, report, n);
        check_accumulate::<f32>(kernels, report, n);
        check_accumulate::<bf16>(kernels, report, n);
    }
    check_poison(kernels, report, 1001);
}

fn check_adamw(kernels: &EmulatedKernels, report: &mut Report, n: usize) {
    let outcome = (|| {
        let mut inputs = Inputs::new(n as u64 + 600);
        let (w, g, m) = (inputs.values(n, 1.0), inputs.values(n, 0.1), inputs.values(n, 0.01));
        let v: Vec<f32> = inputs.values(n, 1e-3).iter().map(|x| x.abs()).collect();
        let step = Step {
            beta1: 0.9,
            beta2: 0.95,
            decay: 1.0 - 3e-4 * 0.1,
            step_size: 3e-4 / (1.0 - 0.9f32.powi(7)),
            bias_correction2_sqrt: (1.0 - 0.95f32.powi(7)).sqrt(),
            eps: 1e-8,
        };
        let [wt, gt, mt, vt] = [&w, &g, &m, &v].map(|x| tensor(x, n));
        let (wt, gt, mt, vt) = (wt?, gt?, mt?, vt?);
        adamw_cpu::update(&wt, &gt, &mt, &vt, &step).or_message()?;
        let (want_w, want_m, want_v) = (values(&wt)?, values(&mt)?, values(&vt)?);
        // SAFETY: the kernel's parameters (kernels/optimizer.cu).
        let kernel: AdamW = unsafe { kernels.entry("adamw")? };
        let (mut w, mut m, mut v) = (w, m, v);
        let (wp, gp, mp, vp) = (w.as_mut_ptr(), g.as_ptr(), m.as_mut_ptr(), v.as_mut_ptr());
        let s = &step;
        kernels.launch(launch::grid_stride(n), || unsafe {
            kernel(wp, gp, mp, vp, n, s.beta1, s.beta2, s.decay, s.step_size, s.bias_correction2_sqrt, s.eps)
        })?;
        Ok(relative_error(&w, &want_w).max(relative_error(&m, &want_m)).max(relative_error(&v, &want_v)))
    })();
    report.record("adamw", &format!("{n} parameters"), outcome, 1e-6);
}

/// The norm as train/adamw_cuda.rs's global_norm takes it: each buffer's partial sums into its slot of
/// NORM_BLOCKS, then one root over all the slots. Two buffers here.
fn check_norm<E: Element>(kernels: &EmulatedKernels, report: &mut Report, n: usize) {
    let name = format!("sum_squares_{}", E::SUFFIX);
    let mut root_outcome = Err("not run".to_string());
    let outcome = (|| {
        let mut inputs = Inputs::new(n as u64 + 700);
        let (first, first32) = as_element::<E>(&inputs.values(n, 1.0));
        let (second, second32) = as_element::<E>(&inputs.values(n / 3 + 1, 2.0));
        let want = first32.iter().chain(&second32).map(|&v| v as f64 * v as f64).sum::<f64>().sqrt() as f32;
        // SAFETY: the kernels' parameters (kernels/optimizer.cu).
        let kernel: SumSquares<E> = unsafe { kernels.entry(&name)? };
        let blocks = launch::NORM_BLOCKS;
        let mut partial = poisoned::<f32>(2 * blocks);
        for (i, buffer) in [&first, &second].into_iter().enumerate() {
            let (bp, pp, len) = (buffer.as_ptr(), partial[i * blocks..].as_mut_ptr(), buffer.len());
            kernels.launch(launch::sum_squares(), || unsafe { kernel(bp, len, pp) })?;
        }
        let partial_sum = partial.iter().map(|&v| v as f64).sum::<f64>().sqrt() as f32;
        root_outcome = (|| {
            // SAFETY: as above.
            let root: RootOfSum = unsafe { kernels.entry("root_of_sum")? };
            let mut out = poisoned::<f32>(1);
            let (pp, op) = (partial.as_ptr(), out.as_mut_ptr());
            kernels.launch(launch::single_thread(), || unsafe { root(pp, (2 * blocks) as i32, op) })?;
            Ok(relative_error(&out, &[want]))
        })();
        Ok(relative_error(&[partial_sum], &[want]))
    })();
    report.record(&name, &format!("{n} + {} values", n / 3 + 1), outcome, 1e-5);
    if E::SUFFIX == "f32" {
        report.record("root_of_sum", &format!("{} partial sums", 2 * launch::NORM_BLOCKS), root_outcome, 1e-5);
    }
}

fn check_poison(kernels: &EmulatedKernels, report: &mut Report, n: usize) {
    let outcome = (|| {
        // SAFETY: the kernel's parameters (kernels/optimizer.cu).
        let kernel: Poison = unsafe { kernels.entry("poison")? };
        let mut bytes = vec![0u8; n];
        let bp = bytes.as_mut_ptr();
        kernels.launch(launch::grid_stride(n), || unsafe { kernel(bp, n) })?;
        Ok(if bytes.iter().all(|&b| b == 0xFF) { 0.0 } else { f64::INFINITY })
    })();
    report.record("poison", &format!("{n} bytes"), outcome, 0.0);
}

/// A gradient added into the middle of a flat buffer (a parameter's view): the elements around it stay.
fn check_accumulate<E: Element>(kernels: &EmulatedKernels, report: &mut Report, n: usize) {
    let name = format!("accumulate_{}", E::SUFFIX);
    let outcome = (|| {
        let mut inputs = Inputs::new(n as u64 + 1000);
        let (offset, total) = (7, n + 20);
        let flat = inputs.values(total, 1.0);
        let (grad, grad32) = as_element::<E>(&inputs.values(n, 0.5));
        let want_flat = tensor(&flat, total)?;
        minilm_core::model::fused::accumulate(&want_flat.narrow(0, offset, n).or_message()?, &tensor(&grad32, n)?).or_message()?;
        let want = values(&want_flat)?;
        // SAFETY: the kernel's parameters (kernels/optimizer.cu).
        let kernel: Accumulate<E> = unsafe { kernels.entry(&name)? };
        let mut got = flat.clone();
        let (sp, gp) = (got[offset..].as_mut_ptr(), grad.as_ptr());
        kernels.launch(launch::grid_stride(n), || unsafe { kernel(sp, gp, n) })?;
        Ok(relative_error(&got, &want))
    })();
    report.record(&name, &format!("{n} into a view of {}", n + 20), outcome, 1e-6);
}
