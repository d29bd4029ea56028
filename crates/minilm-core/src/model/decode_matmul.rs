//! x W^T for the few rows of a decode step (one new token per sequence), on the CPU in float32, so
//! that a row's result does not depend on the rows beside it.
//!
//! A general matmul picks its blocking, and with it the order in which each output's sum is taken, by
//! the matrix sizes: the same sequence could then get different logits, and after a near tie a
//! different token, depending on how many others decode with it. Here every output y[b][n] is
//! the same sum in the same order whatever the number of rows: eight lane sums over k (k mod 8 = lane),
//! added pairwise, then the k % 8 tail in order. The lanes compile to SIMD with or without AVX2, and
//! since each lane is its own plain sum (no fused multiply-add, no reassociation) the bits are the
//! same either way. Threads split the output features, never a sum.
//!
//! The speed is in reading the weights once per step for all rows: a decode step at batch 1 spends
//! its time streaming the weights from memory, so eight rows cost little more than one.

use rayon::prelude::*;

const LANES: usize = 8;
/// Output features per parallel task: enough work to outweigh scheduling, enough tasks to balance.
const FEATURES_PER_TASK: usize = 16;
/// Rows whose accumulators are kept in registers together (4 x 8 lanes).
const ROWS_TOGETHER: usize = 4;

/// y = x W^T for x (rows, k) and W (out_features, k), both row-major; y is (rows, out_features).
pub fn rows_times_weight_t(x: &[f32], rows: usize, weight: &[f32], out_features: usize) -> Vec<f32> {
    assert!(rows > 0 && x.len().is_multiple_of(rows), "x must hold {rows} rows");
    let k = x.len() / rows;
    assert_eq!(weight.len(), out_features * k, "the weight must be ({out_features}, {k})");
    // Computed feature-major, (out_features, rows), so that each task writes one contiguous stretch.
    let mut by_feature = vec![0f32; out_features * rows];
    by_feature.par_chunks_mut(FEATURES_PER_TASK * rows).enumerate().for_each(|(task, out)| {
        for (i, y) in out.chunks_mut(rows).enumerate() {
            let feature = task * FEATURES_PER_TASK + i;
            dot_rows(x, k, &weight[feature * k..(feature + 1) * k], y);
        }
    });
    let mut y = vec![0f32; rows * out_features];
    for (feature, values) in by_feature.chunks(rows).enumerate() {
        for (row, &v) in values.iter().enumerate() {
            y[row * out_features + feature] = v;
        }
    }
    y
}

/// y[b] = x[b] . w for each row b of x (rows of length k).
fn dot_rows(x: &[f32], k: usize, w: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dot_rows_avx2(x, k, w, y) };
    }
    dot_rows_lanes(x, k, w, y)
}

/// The same code, compiled with AVX2's 8-wide registers available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_rows_avx2(x: &[f32], k: usize, w: &[f32], y: &mut [f32]) {
    dot_rows_lanes(x, k, w, y)
}

#[inline(always)]
fn dot_rows_lanes(x: &[f32], k: usize, w: &[f32], y: &mut [f32]) {
    let mut first = 0;
    while first < y.len() {
        let together = (y.len() - first).min(ROWS_TOGETHER);
        let rows = &x[first * k..(first + together) * k];
        let out = &mut y[first..first + together];
        match together {
            4 => dot_group::<4>(rows, k, w, out),
            3 => dot_group::<3>(rows, k, w, out),
            2 => dot_group::<2>(rows, k, w, out),
            _ => dot_group::<1>(rows, k, w, out),
        }
        first += together;
    }
}

/// G rows at once: each weight chunk is loaded once for all of them. Row g's sum is computed exactly
/// as it would be alone.
#[inline(always)]
fn dot_group<const G: usize>(rows: &[f32], k: usize, w: &[f32], out: &mut [f32]) {
    let mut acc = [[0f32; LANES]; G];
    let whole = k - k % LANES;
    for start in (0..whole).step_by(LANES) {
        let w_chunk: &[f32; LANES] = w[start..start + LANES].try_into().unwrap();
        for (g, lanes) in acc.iter_mut().enumerate() {
            let x_chunk: &[f32; LANES] = rows[g * k + start..g * k + start + LANES].try_into().unwrap();
            for lane in 0..LANES {
                lanes[lane] += x_chunk[lane] * w_chunk[lane];
            }
        }
    }
    for (g, lanes) in acc.iter().enumerate() {
        let pairs = [lanes[0] + lanes[4], lanes[1] + lanes[5], lanes[2] + lanes[6], lanes[3] + lanes[7]];
        let mut sum = (pairs[0] + pairs[2]) + (pairs[1] + pairs[3]);
        for i in whole..k {
            sum += rows[g * k + i] * w[i];
        }
        out[g] = sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n).map(|i| (((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / (1 << 24) as f32) - 0.5).collect()
    }

    #[test]
    fn matches_a_float64_product() {
        let (rows, k, n) = (5, 37, 19);
        let (x, w) = (values(rows * k, 1), values(n * k, 2));
        let y = rows_times_weight_t(&x, rows, &w, n);
        for r in 0..rows {
            for f in 0..n {
                let exact: f64 = (0..k).map(|i| x[r * k + i] as f64 * w[f * k + i] as f64).sum();
                assert!((y[r * n + f] as f64 - exact).abs() < 1e-5, "row {r} feature {f}");
            }
        }
    }

    #[test]
    fn a_row_gets_the_same_bits_alone_and_beside_others() {
        let (rows, k, n) = (9, 771, 70);
        let (x, w) = (values(rows * k, 3), values(n * k, 4));
        let together = rows_times_weight_t(&x, rows, &w, n);
        for r in 0..rows {
            let alone = rows_times_weight_t(&x[r * k..(r + 1) * k], 1, &w, n);
            assert_eq!(alone, together[r * n..(r + 1) * n], "row {r}");
        }
    }
}
