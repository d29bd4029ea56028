//! kernels/attention.cu (flash-style attention: forward, query gradient, key and value gradients)
//! against model/fused/attention.rs, and that twin against the composite path it replaces (the
//! probabilities through causal_softmax and batched products).

use half::bf16;
use minilm_core::model::fused::{self, launch, Causal};

use super::{tensor, values, OrMessage};
use crate::emulator::{as_element, poisoned, relative_error, to_f32, Element, Inputs};
use crate::{EmulatedKernels, Report};

type Forward<E> = unsafe extern "C" fn(*const E, *const E, *const E, *mut E, *mut f32, i32, i32, i32, i32, i32, f32);
type BackwardQuery<E> =
    unsafe extern "C" fn(*const E, *const E, *const E, *const E, *const f32, *const E, *mut E, i32, i32, i32, i32, i32, f32);
type BackwardKeyValue<E> =
    unsafe extern "C" fn(*const E, *const E, *const E, *const E, *const f32, *const E, *mut E, *mut E, i32, i32, i32, i32, i32, f32);

/// Batch, groups, query heads per group, query length, cached positions before it, head size.
struct Case {
    batch: usize,
    groups: usize,
    per_group: usize,
    t: usize,
    first: usize,
    d: usize,
}

const CASES: [Case; 4] = [
    // The reference model's head size and GQA (2 query heads per group), rows not a multiple of the
    // 16-row tile, more keys than a 32-key chunk.
    Case { batch: 2, groups: 2, per_group: 2, t: 37, first: 0, d: 48 },
    Case { batch: 1, groups: 3, per_group: 1, t: 20, first: 0, d: 64 },
    Case { batch: 1, groups: 1, per_group: 4, t: 9, first: 0, d: 128 },
    // Decoding after a cache: 3 new queries at positions 40.. over 43 keys.
    Case { batch: 1, groups: 2, per_group: 2, t: 3, first: 40, d: 48 },
];

pub fn run(kernels: &EmulatedKernels, report: &mut Report) {
    for (i, case) in CASES.iter().enumerate() {
        check_twin(report, case, i as u64);
        check::<f32>(kernels, report, case, i as u64);
        check::<bf16>(kernels, report, case, i as u64);
    }
}

/// The twin equals the composite path: outputs, and gradients through candle's autograd.
fn check_twin(report: &mut Report, c: &Case, seed: u64) {
    let shape = describe(c);
    let outcome = (|| {
        let (rows, keys) = (c.per_group * c.t, c.first + c.t);
        let mut inputs = Inputs::new(seed + 800);
        let q = tensor(&inputs.values(c.batch * c.groups * rows * c.d, 1.5), (c.batch, c.groups, rows, c.d))?;
        let k = tensor(&inputs.values(c.batch * c.groups * keys * c.d, 1.5), (c.batch, c.groups, keys, c.d))?;
        let v = tensor(&inputs.values(c.batch * c.groups * keys * c.d, 1.0), (c.batch, c.groups, keys, c.d))?;
        let d_out = tensor(&inputs.values(c.batch * c.groups * rows * c.d, 1.0), (c.batch, c.groups, rows, c.d))?;
        let causal = Causal { query_len: c.t, first_position: c.first, scale: 1.0 / (c.d as f32).sqrt() };
        let (out, lse) = fused::flash_attention(&q, &k, &v, causal).or_message()?;
        let (dq, dk, dv) = fused::flash_attention_backward(&q, &k, &v, &out, &lse, &d_out, causal).or_message()?;

        let vars = [&q, &k, &v].map(|t| candle_core::Var::from_tensor(t).unwrap());
        let scores = vars[0].as_tensor().matmul(&vars[1].as_tensor().t().or_message()?.contiguous().or_message()?).or_message()?;
        let weights = minilm_core::model::composite::causal_softmax(&scores, causal.scale as f64, c.t, c.first).or_message()?;
        let want_out = weights.matmul(vars[2].as_tensor()).or_message()?;
        let grads = (&want_out * &d_out).and_then(|t| t.sum_all()).and_then(|t| t.backward()).or_message()?;
        let grad = |i: usize| values(grads.get(vars[i].as_tensor()).unwrap());
        Ok(relative_error(&values(&out)?, &values(&want_out)?)
            .max(relative_error(&values(&dq)?, &grad(0)?))
            .max(relative_error(&values(&dk)?, &grad(1)?))
            .max(relative_error(&values(&dv)?, &grad(2)?)))
    })();
    report.record("flash attention twin = composite attention", &shape, outcome, 1e-5);
}

fn describe(c: &Case) -> String {
    format!("B{} G{} x{} T{} after {} D{}", c.batch, c.groups, c.per_group, c.t, c.first, c.d)
}

fn check<E: Element>(kernels: &EmulatedKernels, report: &mut Report, c: &Case, seed: u64) {
    let shape = describe(c);
    let (rows, keys, bg) = (c.per_group * c.t, c.first + c.t, c.batch * c.groups);
    let mut inputs = Inputs::new(seed + 900);
    let (q, q32) = as_element::<E>(&inputs.values(bg * rows * c.d, 1.5));
    let (k, k32) = as_element::<E>(&inputs.values(bg * keys * c.d, 1.5));
    let (v, v32) = as_element::<E>(&inputs.values(bg * keys * c.d, 1.0));
    let (d_out, d_out32) = as_element::<E>(&inputs.values(bg * rows * c.d, 1.0));
    let causal = Causal { query_len: c.t, first_position: c.first, scale: 1.0 / (c.d as f32).sqrt() };
    let twin = || -> Result<_, String> {
        let qt = tensor(&q32, (c.batch, c.groups, rows, c.d))?;
        let (kt, vt) = (tensor(&k32, (c.batch, c.groups, keys, c.d))?, tensor(&v32, (c.batch, c.groups, keys, c.d))?);
        let (out, lse) = fused::flash_attention(&qt, &kt, &vt, causal).or_message()?;
        // The backward pass gets the output as the kernel's dtype holds it.
        let (out_e, out32) = as_element::<E>(&values(&out)?);
        let out_t = tensor(&out32, out.shape().clone())?;
        let d_out_t = tensor(&d_out32, out.shape().clone())?;
        let (dq, dk, dv) = fused::flash_attention_backward(&qt, &kt, &vt, &out_t, &lse, &d_out_t, causal).or_message()?;
        Ok((values(&out)?, values(&lse)?, out_e, values(&dq)?, values(&dk)?, values(&dv)?))
    };
    let (want_out, want_lse, out_e, want_dq, want_dk, want_dv) = match twin() {
        Ok(want) => want,
        Err(message) => return report.record("flash attention twin", &shape, Err(message), 0.0),
    };
    let [rows_arg, keys_arg, query_len, first, d] = [rows, keys, c.t, c.first, c.d].map(|v| v as i32);

    let forward = format!("flash_attention_forward_{}", E::SUFFIX);
    let mut lse = poisoned::<f32>(bg * rows);
    let outcome = (|| {
        // SAFETY: the kernel's parameters (kernels/attention.cu).
        let kernel: Forward<E> = unsafe { kernels.entry(&forward)? };
        let mut out = poisoned::<E>(bg * rows * c.d);
        let (qp, kp, vp, op, lp) = (q.as_ptr(), k.as_ptr(), v.as_ptr(), out.as_mut_ptr(), lse.as_mut_ptr());
        let shape = launch::attention_query_tiles(rows, bg);
        kernels.launch(shape, || unsafe { kernel(qp, kp, vp, op, lp, rows_arg, keys_arg, query_len, first, d, causal.scale) })?;
        Ok(relative_error(&to_f32(&out), &want_out).max(relative_error(&lse, &want_lse)))
    })();
    report.record(&forward, &shape, outcome, E::TOLERANCE);

    let query = format!("flash_attention_backward_query_{}", E::SUFFIX);
    let outcome = (|| {
        // SAFETY: as above.
        let kernel: BackwardQuery<E> = unsafe { kernels.entry(&query)? };
        let mut dq = poisoned::<E>(bg * rows * c.d);
        let (qp, kp, vp, op, lp, dop, dqp) =
            (q.as_ptr(), k.as_ptr(), v.as_ptr(), out_e.as_ptr(), lse.as_ptr(), d_out.as_ptr(), dq.as_mut_ptr());
        let shape = launch::attention_query_tiles(rows, bg);
        kernels.launch(shape, || unsafe { kernel(qp, kp, vp, op, lp, dop, dqp, rows_arg, keys_arg, query_len, first, d, causal.scale) })?;
        Ok(relative_error(&to_f32(&dq), &want_dq))
    })();
    report.record(&query, &shape, outcome, E::TOLERANCE * 2.0);

    let key_value = format!("flash_attention_backward_key_value_{}", E::SUFFIX);
    let outcome = (|| {
        // SAFETY: as above.
        let kernel: BackwardKeyValue<E> = unsafe { kernels.entry(&key_value)? };
        let (mut dk, mut dv) = (poisoned::<E>(bg * keys * c.d), poisoned::<E>(bg * keys * c.d));
        let (qp, kp, vp, op, lp, dop) = (q.as_ptr(), k.as_ptr(), v.as_ptr(), out_e.as_ptr(), lse.as_ptr(), d_out.as_ptr());
        let (dkp, dvp) = (dk.as_mut_ptr(), dv.as_mut_ptr());
        let shape = launch::attention_key_tiles(keys, bg);
        kernels.launch(shape, || unsafe {
            kernel(qp, kp, vp, op, lp, dop, dkp, dvp, rows_arg, keys_arg, query_len, first, d, causal.scale)
        })?;
        Ok(relative_error(&to_f32(&dk), &want_dk).max(relative_error(&to_f32(&dv), &want_dv)))
    })();
    report.record(&key_value, &shape, outcome, E::TOLERANCE * 2.0);
}
