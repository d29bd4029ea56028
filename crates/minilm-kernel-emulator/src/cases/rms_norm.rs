//! kernels/rms_norm.cu against model/fused/rms_norm.rs.

use half::bf16;
use minilm_core::model::fused::{self, launch};

use super::{tensor, values, OrMessage};
use crate::emulator::{as_element, poisoned, relative_error, to_f32, Element, Inputs};
use crate::{EmulatedKernels, Report};

type Forward<E> = unsafe extern "C" fn(*const E, *const f32, *mut E, i32, f32);
type ResidualForward<E> = unsafe extern "C" fn(*const E, *const E, *const f32, *mut E, *mut E, i32, f32);
type BackwardInput<E> = unsafe extern "C" fn(*const E, *const f32, *const E, *const E, *mut E, *mut f32, i32, f32);
type WeightPartial<E> = unsafe extern "C" fn(*const E, *const E, *const f32, *mut f32, i32, i32, i32);
type SumChunks = unsafe extern "C" fn(*const f32, *mut f32, i32, i32);

const EPS: f32 = 1e-5;
/// (rows, cols): one warp's worth of columns, a width that is not a multiple of the block (3 x 256 + 3),
/// the MLP's width; rows beyond the weight gradient's 256 chunks.
const SHAPES: [(usize, usize); 4] = [(3, 48), (7, 771), (5, 2048), (300, 48)];

pub fn run(kernels: &EmulatedKernels, report: &mut Report) {
    for (i, &(rows, cols)) in SHAPES.iter().enumerate() {
        check::<f32>(kernels, report, rows, cols, i as u64);
        check::<bf16>(kernels, report, rows, cols, i as u64);
    }
}

fn check<E: Element>(kernels: &EmulatedKernels, report: &mut Report, rows: usize, cols: usize, seed: u64) {
    let shape = format!("{rows}x{cols}");
    let mut inputs = Inputs::new(seed);
    let (x, x32) = as_element::<E>(&inputs.values(rows * cols, 2.0));
    let (dy, dy32) = as_element::<E>(&inputs.values(rows * cols, 1.0));
    let w = inputs.values(cols, 1.0);
    // The gradient along the residual stream, added to dx, and the residual add's second input.
    let (d_residual, d_residual32) = as_element::<E>(&inputs.values(rows * cols, 1.0));
    let (delta, delta32) = as_element::<E>(&inputs.values(rows * cols, 1.0));
    // (y, dx, dw, dx with the residual gradient) of the twin.
    type Expected = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);
    let twin = || -> Result<Expected, String> {
        let (xt, wt, dyt) = (tensor(&x32, (rows, cols))?, tensor(&w, cols)?, tensor(&dy32, (rows, cols))?);
        let y = fused::rms_norm(&xt, &wt, EPS as f64).or_message()?;
        let (dx, dw) = fused::rms_norm_backward(&xt, &wt, &dyt, None, EPS as f64).or_message()?;
        let residual = tensor(&d_residual32, (rows, cols))?;
        let (dx_residual, _) = fused::rms_norm_backward(&xt, &wt, &dyt, Some(&residual), EPS as f64).or_message()?;
        Ok((values(&y)?, values(&dx)?, values(&dw)?, values(&dx_residual)?))
    };
    let (want_y, want_dx, want_dw, want_dx_residual) = match twin() {
        Ok(want) => want,
        Err(message) => return report.record("rms_norm twin", &shape, Err(message), 0.0),
    };

    let forward = format!("rms_norm_forward_{}", E::SUFFIX);
    let outcome = (|| {
        // SAFETY: the kernel's parameters (kernels/rms_norm.cu).
        let kernel: Forward<E> = unsafe { kernels.entry(&forward)? };
        let mut y = poisoned::<E>(rows * cols);
        let (xp, wp, yp) = (x.as_ptr(), w.as_ptr(), y.as_mut_ptr());
        kernels.launch(launch::rms_norm_rows(rows), || unsafe { kernel(xp, wp, yp, cols as i32, EPS) })?;
        Ok(relative_error(&to_f32(&y), &want_y))
    })();
    report.record(&forward, &shape, outcome, E::TOLERANCE);

    let residual_forward = format!("rms_norm_residual_forward_{}", E::SUFFIX);
    let outcome = (|| {
        // The twin adds in float32 and rounds the sum to E, as the kernel stores it.
        let (_, sum32) = as_element::<E>(&x32.iter().zip(&delta32).map(|(a, b)| a + b).collect::<Vec<f32>>());
        let want_sum = sum32.clone();
        let want_y = values(&fused::rms_norm(&tensor(&sum32, (rows, cols))?, &tensor(&w, cols)?, EPS as f64).or_message()?)?;
        // SAFETY: the kernel's parameters (kernels/rms_norm.cu).
        let kernel: ResidualForward<E> = unsafe { kernels.entry(&residual_forward)? };
        let (mut sum, mut y) = (poisoned::<E>(rows * cols), poisoned::<E>(rows * cols));
        let (xp, dp, wp, sp, yp) = (x.as_ptr(), delta.as_ptr(), w.as_ptr(), sum.as_mut_ptr(), y.as_mut_ptr());
        kernels.launch(launch::rms_norm_rows(rows), || unsafe { kernel(xp, dp, wp, sp, yp, cols as i32, EPS) })?;
        Ok(relative_error(&to_f32(&sum), &want_sum).max(relative_error(&to_f32(&y), &want_y)))
    })();
    report.record(&residual_forward, &shape, outcome, E::TOLERANCE);

    let input_grad = format!("rms_norm_backward_input_{}", E::SUFFIX);
    let mut inverse_rms = poisoned::<f32>(rows);
    let outcome = (|| {
        // SAFETY: as above.
        let kernel: BackwardInput<E> = unsafe { kernels.entry(&input_grad)? };
        let (mut dx, mut dx_residual) = (poisoned::<E>(rows * cols), poisoned::<E>(rows * cols));
        let (xp, wp, dyp, dxp, rp) = (x.as_ptr(), w.as_ptr(), dy.as_ptr(), dx.as_mut_ptr(), inverse_rms.as_mut_ptr());
        let (drp, dxrp, none) = (d_residual.as_ptr(), dx_residual.as_mut_ptr(), std::ptr::null());
        kernels.launch(launch::rms_norm_rows(rows), || unsafe { kernel(xp, wp, dyp, none, dxp, rp, cols as i32, EPS) })?;
        let want_r: Vec<f32> =
            x32.chunks(cols).map(|row| 1.0 / (row.iter().map(|v| v * v).sum::<f32>() / cols as f32 + EPS).sqrt()).collect();
        let plain = relative_error(&to_f32(&dx), &want_dx).max(relative_error(&inverse_rms, &want_r));
        // With the residual path's gradient added in the same pass.
        let mut scratch = poisoned::<f32>(rows);
        let sp = scratch.as_mut_ptr();
        kernels.launch(launch::rms_norm_rows(rows), || unsafe { kernel(xp, wp, dyp, drp, dxrp, sp, cols as i32, EPS) })?;
        Ok(plain.max(relative_error(&to_f32(&dx_residual), &want_dx_residual)))
    })();
    report.record(&input_grad, &shape, outcome, E::TOLERANCE);

    // The weight gradient's two passes, with the plan the launcher uses, from the inverse RMS above.
    let plan = launch::rms_norm_weight_grad(rows, cols);
    let partial_name = format!("rms_norm_backward_weight_partial_{}", E::SUFFIX);
    let mut partial = poisoned::<f32>(plan.chunks * cols);
    let outcome = (|| {
        // SAFETY: as above.
        let kernel: WeightPartial<E> = unsafe { kernels.entry(&partial_name)? };
        let (xp, dyp, rp, pp) = (x.as_ptr(), dy.as_ptr(), inverse_rms.as_ptr(), partial.as_mut_ptr());
        let (r, c, per) = (rows as i32, cols as i32, plan.rows_per_chunk as i32);
        kernels.launch(plan.partial, || unsafe { kernel(xp, dyp, rp, pp, r, c, per) })?;
        let sums: Vec<f32> = (0..cols).map(|col| (0..plan.chunks).map(|chunk| partial[chunk * cols + col]).sum()).collect();
        Ok(relative_error(&sums, &want_dw))
    })();
    report.record(&partial_name, &shape, outcome, E::TOLERANCE.max(1e-4));
    if E::SUFFIX == "f32" {
        let outcome = (|| {
            // SAFETY: as above.
            let kernel: SumChunks = unsafe { kernels.entry("sum_chunks")? };
            let mut dw = poisoned::<f32>(cols);
            let (pp, dwp) = (partial.as_ptr(), dw.as_mut_ptr());
            kernels.launch(plan.sum, || unsafe { kernel(pp, dwp, plan.chunks as i32, cols as i32) })?;
            Ok(relative_error(&dw, &want_dw))
        })();
        report.record("sum_chunks", &shape, outcome, 1e-4);
    }
}
