//! kernels/embedding.cu against model/fused/embedding.rs, with the token buckets the launcher builds.

use half::bf16;
use minilm_core::model::fused::{self, launch, Buckets};

use super::{tensor, values, OrMessage};
use crate::emulator::{as_element, poisoned, relative_error, Element, Inputs};
use crate::{EmulatedKernels, Report};

type Backward<E> = unsafe extern "C" fn(*const E, *const u32, *const u32, *mut f32, i32);

/// (positions, vocab, cols): tokens repeated and absent; a width of two column tiles, the second partial.
const SHAPES: [(usize, usize, usize); 2] = [(37, 11, 300), (8, 50, 48)];

pub fn run(kernels: &EmulatedKernels, report: &mut Report) {
    for (i, &shape) in SHAPES.iter().enumerate() {
        check::<f32>(kernels, report, shape, i as u64);
        check::<bf16>(kernels, report, shape, i as u64);
    }
}

fn check<E: Element>(kernels: &EmulatedKernels, report: &mut Report, (positions, vocab, cols): (usize, usize, usize), seed: u64) {
    let name = format!("embedding_backward_{}", E::SUFFIX);
    let outcome = (|| {
        let mut inputs = Inputs::new(seed + 500);
        let ids: Vec<u32> = (0..positions).map(|_| inputs.below(vocab as u32 / 2 + 1)).collect();
        let (dx, dx32) = as_element::<E>(&inputs.values(positions * cols, 1.0));
        let want = values(&fused::embedding_backward(&ids, &tensor(&dx32, (positions, cols))?, vocab).or_message()?)?;
        let buckets = Buckets::new(&ids, vocab);
        // SAFETY: the kernel's parameters (kernels/embedding.cu).
        let kernel: Backward<E> = unsafe { kernels.entry(&name)? };
        let mut table = poisoned::<f32>(vocab * cols);
        let (dxp, op, sp, tp) = (dx.as_ptr(), buckets.order.as_ptr(), buckets.start.as_ptr(), table.as_mut_ptr());
        kernels.launch(launch::embedding_backward(vocab, cols), || unsafe { kernel(dxp, op, sp, tp, cols as i32) })?;
        Ok(relative_error(&table, &want))
    })();
    report.record(&name, &format!("{positions} positions, vocab {vocab}, {cols} wide"), outcome, 1e-6);
}
