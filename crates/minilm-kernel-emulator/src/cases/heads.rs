//! kernels/heads.cu (move_heads, with and without RoPE) against model/fused/heads.rs's split_heads and
//! merge_heads.

use half::bf16;
use minilm_core::model::fused::{self, launch};
use minilm_core::model::layers::RopeCache;

use super::{tensor, values, OrMessage};
use crate::emulator::{as_element, poisoned, relative_error, to_f32, Element, Inputs};
use crate::{EmulatedKernels, Report};

type MoveHeads<E> = unsafe extern "C" fn(*const E, *mut E, *const f32, *const f32, i32, i32, i32, i32, i32, i32, i32, i32, i32, f32);

/// A split of the fused qkv rows: `heads` heads from head `first` of rows holding `width_heads`, in
/// `groups` groups, RoPE over the first `rope_n` dims from position `start`.
struct Case {
    batch: usize,
    t: usize,
    width_heads: usize,
    first: usize,
    heads: usize,
    groups: usize,
    d: usize,
    rope_n: usize,
    start: usize,
}

// The kernel moves 16-byte chunks where the head size, the row width and the rotary half allow (the
// first four cases), else single values (the last).
const CASES: [Case; 5] = [
    // The keys of a GQA qkv (4 query heads, 2 groups): head size 48, full rotary, a later start.
    Case { batch: 2, t: 5, width_heads: 8, first: 4, heads: 2, groups: 2, d: 48, rope_n: 48, start: 3 },
    // The queries: heads of a group stacked along the rows.
    Case { batch: 2, t: 7, width_heads: 8, first: 0, heads: 4, groups: 2, d: 48, rope_n: 48, start: 0 },
    // Head size 64, no grouping, no RoPE at all (the values).
    Case { batch: 1, t: 3, width_heads: 3, first: 0, heads: 3, groups: 3, d: 64, rope_n: 0, start: 0 },
    // Partial rotary: the first half of each head rotated, the rest copied.
    Case { batch: 2, t: 3, width_heads: 3, first: 1, heads: 2, groups: 2, d: 64, rope_n: 32, start: 1 },
    // Head size 40 with rotary over 20 dims: halves of 10 values, no whole chunks.
    Case { batch: 1, t: 4, width_heads: 3, first: 1, heads: 2, groups: 2, d: 40, rope_n: 20, start: 2 },
];

pub fn run(kernels: &EmulatedKernels, report: &mut Report) {
    for (i, case) in CASES.iter().enumerate() {
        check::<f32>(kernels, report, case, i as u64);
        check::<bf16>(kernels, report, case, i as u64);
    }
}

fn check<E: Element>(kernels: &EmulatedKernels, report: &mut Report, c: &Case, seed: u64) {
    let name = format!("move_heads_{}", E::SUFFIX);
    let shape = format!("B{} T{} heads {}/{} D{} rope {}", c.batch, c.t, c.heads, c.groups, c.d, c.rope_n);
    let outcome = (|| {
        let width = c.width_heads * c.d;
        let rows = c.batch * c.t;
        let mut inputs = Inputs::new(seed + 100);
        let (x, x32) = as_element::<E>(&inputs.values(rows * width, 1.0));
        let cache = RopeCache::new(c.rope_n, 10_000.0, c.start + c.t, &candle_core::Device::Cpu).or_message()?;
        let rotation = (c.rope_n > 0).then(|| cache.rotation(c.start));
        let split =
            fused::split_heads(&tensor(&x32, (rows, width))?, c.batch, c.first, c.heads, c.groups, c.d, rotation.as_ref()).or_message()?;
        let want_split = values(&split)?;
        // SAFETY: the kernel's parameters (kernels/heads.cu).
        let kernel: MoveHeads<E> = unsafe { kernels.entry(&name)? };
        let len = rows * c.heads * c.d;
        let (cos, sin) = match &rotation {
            Some(r) => (r.cos.as_ptr(), r.sin.as_ptr()),
            None => (std::ptr::null(), std::ptr::null()),
        };
        let [b, t, h, d, w, first, rope_n, start] = [c.batch, c.t, c.heads, c.d, width, c.first, c.rope_n, c.start].map(|v| v as i32);
        let mut y = poisoned::<E>(len);
        let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
        kernels.launch(launch::grid_stride(len), || unsafe { kernel(xp, yp, cos, sin, b, t, h, d, w, first, 1, rope_n, start, 1.0) })?;
        let split_error = relative_error(&to_f32(&y), &want_split);

        // And back: merging the split (rotated back), as attention's output and the backward pass do.
        let (back, back32) = as_element::<E>(&want_split);
        let merged = fused::merge_heads(&tensor(&back32, split.shape().clone())?, c.heads, rotation.as_ref()).or_message()?;
        let want_merged = values(&merged)?;
        let mut z = poisoned::<E>(len);
        let (bp, zp) = (back.as_ptr(), z.as_mut_ptr());
        let merged_width = (c.heads * c.d) as i32;
        kernels.launch(launch::grid_stride(len), || unsafe {
            kernel(bp, zp, cos, sin, b, t, h, d, merged_width, 0, 0, rope_n, start, -1.0)
        })?;
        Ok(split_error.max(relative_error(&to_f32(&z), &want_merged)))
    })();
    report.record(&name, &shape, outcome, E::TOLERANCE);
}
