//! kernels/swiglu.cu against model/fused/swiglu.rs.

use half::bf16;
use minilm_core::model::fused::{self, launch};

use super::{tensor, values, OrMessage};
use crate::emulator::{as_element, poisoned, relative_error, to_f32, Element, Inputs};
use crate::{EmulatedKernels, Report};

type Forward<E> = unsafe extern "C" fn(*const E, *const E, *mut E, usize);
type Backward<E> = unsafe extern "C" fn(*const E, *const E, *const E, *mut E, *mut E, usize);

/// Element counts: less than a block, not a multiple of the block, and (float32 only, it takes a second)
/// more than the largest grid-stride grid covers, so that the kernels' stride loop runs twice.
const SIZES: [usize; 3] = [100, 3 * 256 + 1, 2112 * 256 + 7];

pub fn run(kernels: &EmulatedKernels, report: &mut Report) {
    for (i, &n) in SIZES.iter().enumerate() {
        check::<f32>(kernels, report, n, i as u64);
        if i < 2 {
            check::<bf16>(kernels, report, n, i as u64);
        }
    }
}

fn check<E: Element>(kernels: &EmulatedKernels, report: &mut Report, n: usize, seed: u64) {
    let shape = format!("{n} elements");
    let mut inputs = Inputs::new(seed + 300);
    let (a, a32) = as_element::<E>(&inputs.values(n, 4.0));
    let (b, b32) = as_element::<E>(&inputs.values(n, 2.0));
    let (dy, dy32) = as_element::<E>(&inputs.values(n, 1.0));

    let forward = format!("swiglu_forward_{}", E::SUFFIX);
    let outcome = (|| {
        let want = values(&fused::swiglu(&tensor(&a32, n)?, &tensor(&b32, n)?).or_message()?)?;
        // SAFETY: the kernel's parameters (kernels/swiglu.cu).
        let kernel: Forward<E> = unsafe { kernels.entry(&forward)? };
        let mut y = poisoned::<E>(n);
        let (ap, bp, yp) = (a.as_ptr(), b.as_ptr(), y.as_mut_ptr());
        kernels.launch(launch::grid_stride(n), || unsafe { kernel(ap, bp, yp, n) })?;
        Ok(relative_error(&to_f32(&y), &want))
    })();
    report.record(&forward, &shape, outcome, E::TOLERANCE);

    let backward = format!("swiglu_backward_{}", E::SUFFIX);
    let outcome = (|| {
        let (da, db) = fused::swiglu_backward(&tensor(&a32, n)?, &tensor(&b32, n)?, &tensor(&dy32, n)?).or_message()?;
        let (want_da, want_db) = (values(&da)?, values(&db)?);
        // SAFETY: as above.
        let kernel: Backward<E> = unsafe { kernels.entry(&backward)? };
        let (mut da, mut db) = (poisoned::<E>(n), poisoned::<E>(n));
        let (ap, bp, dyp, dap, dbp) = (a.as_ptr(), b.as_ptr(), dy.as_ptr(), da.as_mut_ptr(), db.as_mut_ptr());
        kernels.launch(launch::grid_stride(n), || unsafe { kernel(ap, bp, dyp, dap, dbp, n) })?;
        Ok(relative_error(&to_f32(&da), &want_da).max(relative_error(&to_f32(&db), &want_db)))
    })();
    report.record(&backward, &shape, outcome, E::TOLERANCE);
}
