//! kernels/causal_softmax.cu against model/fused/causal_softmax.rs.

use half::bf16;
use minilm_core::model::fused::{self, launch};

use super::{tensor, values, OrMessage};
use crate::emulator::{as_element, poisoned, relative_error, to_f32, Element, Inputs};
use crate::{EmulatedKernels, Report};

type Forward<E> = unsafe extern "C" fn(*const E, *mut E, i32, i32, i32, i32, f32);
type Backward<E> = unsafe extern "C" fn(*const E, *const E, *mut E, i32, i32, i32, i32, f32);

/// (rows, query_len, first_position): 3 stacked heads of 5 queries (15 rows, not a multiple of the 4
/// warps of a block); 2 x 7 queries after 33 cached positions (40 keys: more than a warp's 32 lanes).
const CASES: [(usize, usize, usize); 2] = [(15, 5, 0), (14, 7, 33)];

pub fn run(kernels: &EmulatedKernels, report: &mut Report) {
    for (i, &case) in CASES.iter().enumerate() {
        check::<f32>(kernels, report, case, i as u64);
        check::<bf16>(kernels, report, case, i as u64);
    }
}

fn check<E: Element>(kernels: &EmulatedKernels, report: &mut Report, (rows, query_len, first): (usize, usize, usize), seed: u64) {
    let keys = first + query_len;
    let scale = 1.0 / (48f64).sqrt();
    let shape = format!("{rows} rows x {keys} keys, query_len {query_len}, first {first}");
    let mut inputs = Inputs::new(seed + 200);
    let (scores, scores32) = as_element::<E>(&inputs.values(rows * keys, 4.0));
    let (dw, dw32) = as_element::<E>(&inputs.values(rows * keys, 1.0));
    let (r, k, q, f) = (rows as i32, keys as i32, query_len as i32, first as i32);

    let forward = format!("causal_softmax_forward_{}", E::SUFFIX);
    let mut weights = poisoned::<E>(rows * keys);
    let outcome = (|| {
        let want = values(&fused::causal_softmax(&tensor(&scores32, (rows, keys))?, scale, query_len, first).or_message()?)?;
        // SAFETY: the kernel's parameters (kernels/causal_softmax.cu).
        let kernel: Forward<E> = unsafe { kernels.entry(&forward)? };
        let (sp, wp) = (scores.as_ptr(), weights.as_mut_ptr());
        kernels.launch(launch::warp_per_row(rows), || unsafe { kernel(sp, wp, r, k, q, f, scale as f32) })?;
        Ok(relative_error(&to_f32(&weights), &want))
    })();
    report.record(&forward, &shape, outcome, E::TOLERANCE);

    let backward = format!("causal_softmax_backward_{}", E::SUFFIX);
    let outcome = (|| {
        let weights32 = to_f32(&weights);
        let want =
            fused::causal_softmax_backward(&tensor(&weights32, (rows, keys))?, &tensor(&dw32, (rows, keys))?, scale, query_len, first);
        let want = values(&want.or_message()?)?;
        // SAFETY: as above.
        let kernel: Backward<E> = unsafe { kernels.entry(&backward)? };
        let mut d_scores = poisoned::<E>(rows * keys);
        let (wp, dwp, dsp) = (weights.as_ptr(), dw.as_ptr(), d_scores.as_mut_ptr());
        kernels.launch(launch::warp_per_row(rows), || unsafe { kernel(wp, dwp, dsp, r, k, q, f, scale as f32) })?;
        Ok(relative_error(&to_f32(&d_scores), &want))
    })();
    report.record(&backward, &shape, outcome, E::TOLERANCE);
}
