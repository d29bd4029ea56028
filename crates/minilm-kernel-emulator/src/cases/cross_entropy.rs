//! kernels/cross_entropy.cu (the classifier's loss and dlogits in one pass, and the mean of the losses)
//! against model/fused/cross_entropy.rs.

use half::bf16;
use minilm_core::model::fused::{self, launch};

use super::{tensor, values, OrMessage};
use crate::emulator::{as_element, poisoned, relative_error, to_f32, Element, Inputs};
use crate::{EmulatedKernels, Report};

type CrossEntropy<E> = unsafe extern "C" fn(*const E, *const u32, *mut f32, *mut E, i32, f32);
type Mean = unsafe extern "C" fn(*const f32, *mut f32, i32);

/// (rows, vocab): a vocabulary that is not a multiple of the block; the reference model's 6,400.
const SHAPES: [(usize, usize); 2] = [(5, 300), (3, 6400)];

pub fn run(kernels: &EmulatedKernels, report: &mut Report) {
    for (i, &shape) in SHAPES.iter().enumerate() {
        check::<f32>(kernels, report, shape, i as u64);
        check::<bf16>(kernels, report, shape, i as u64);
    }
    for n in [5, 1500] {
        check_mean(kernels, report, n);
    }
}

fn check<E: Element>(kernels: &EmulatedKernels, report: &mut Report, (rows, vocab): (usize, usize), seed: u64) {
    let name = format!("cross_entropy_{}", E::SUFFIX);
    let shape = format!("{rows} rows x {vocab}");
    let outcome = (|| {
        let mut inputs = Inputs::new(seed + 400);
        let (logits, logits32) = as_element::<E>(&inputs.values(rows * vocab, 6.0));
        let targets: Vec<u32> = (0..rows).map(|_| inputs.below(vocab as u32)).collect();
        let d_loss = 1.5f64;
        let target_tensor = candle_core::Tensor::from_slice(&targets, rows, &candle_core::Device::Cpu).or_message()?;
        let (_, grad) = fused::cross_entropy_with_grad(&tensor(&logits32, (rows, vocab))?, &target_tensor, d_loss).or_message()?;
        let want_grad = values(&grad)?;
        // Each row's loss, independently in float64.
        let want_losses: Vec<f32> = logits32
            .chunks(vocab)
            .zip(&targets)
            .map(|(row, &t)| {
                let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                (max + row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() - row[t as usize] as f64) as f32
            })
            .collect();
        // SAFETY: the kernel's parameters (kernels/cross_entropy.cu).
        let kernel: CrossEntropy<E> = unsafe { kernels.entry(&name)? };
        let factor = (d_loss / rows as f64) as f32;
        let (mut losses, mut d_logits) = (poisoned::<f32>(rows), poisoned::<E>(rows * vocab));
        let (lp, tp, lossp, gp) = (logits.as_ptr(), targets.as_ptr(), losses.as_mut_ptr(), d_logits.as_mut_ptr());
        kernels.launch(launch::cross_entropy_rows(rows), || unsafe { kernel(lp, tp, lossp, gp, vocab as i32, factor) })?;
        let with_grad = relative_error(&losses, &want_losses).max(relative_error(&to_f32(&d_logits), &want_grad));
        // Evaluation passes no gradient buffer: the kernel must write only the losses.
        let mut eval_losses = poisoned::<f32>(rows);
        let ep = eval_losses.as_mut_ptr();
        kernels.launch(launch::cross_entropy_rows(rows), || unsafe { kernel(lp, tp, ep, std::ptr::null_mut(), vocab as i32, 0.0) })?;
        Ok(with_grad.max(relative_error(&eval_losses, &want_losses)))
    })();
    report.record(&name, &shape, outcome, E::TOLERANCE.max(1e-4));
}

fn check_mean(kernels: &EmulatedKernels, report: &mut Report, n: usize) {
    let outcome = (|| {
        // Positive, like losses, so that the mean is far from 0 and a relative error means something.
        let values: Vec<f32> = Inputs::new(n as u64).values(n, 3.0).iter().map(|v| v.abs() + 0.5).collect();
        let want = (values.iter().map(|&v| v as f64).sum::<f64>() / n as f64) as f32;
        // SAFETY: the kernel's parameters (kernels/cross_entropy.cu).
        let kernel: Mean = unsafe { kernels.entry("mean")? };
        let mut out = poisoned::<f32>(1);
        let (vp, op) = (values.as_ptr(), out.as_mut_ptr());
        kernels.launch(launch::mean(), || unsafe { kernel(vp, op, n as i32) })?;
        Ok(relative_error(&out, &[want]))
    })();
    report.record("mean", &format!("{n} values"), outcome, 1e-6);
}
