//! x W^T for the few rows of a decode step (one new token per sequence), on the CPU in float32, so
//! that a row's result does not depend on the rows beside it.
//!
//! A general matmul picks its blocking, and with it the order in which each output's sum is taken, by
//! the matrix sizes: the same sequence could then get different logits, and after a near tie a
//! different token, depending on how many others decode with it. Here every output y[b][n] is the
//! same sum in the same order whatever the number of rows: eight lane sums over k (k mod 8 = lane),
//! each a chain of fused multiply-adds, added pairwise, then the k % 8 tail in order. AVX2's FMA
//! instructions and `f32::mul_add` round alike, so the bits are the same with or without AVX2.
//! Threads split the output features, never a sum.
//!
//! The speed is in reading the weights once per step for all rows: a decode step at batch 1 spends
//! its time streaming the weights from memory, so eight rows cost little more than one. Blocks of 2
//! rows x 4 features keep 8 sums in registers (with the 4 weight chunks and a row's, 13 of AVX2's 16),
//! each weight chunk loaded once for both rows; measured against 4 x 4, 4 x 2, 8 x 1 and 6 x 2 blocks
//! on 1 to 8 rows, 2 x 4 was the best or close to it at every row count.

use rayon::prelude::*;

const LANES: usize = 8;
/// Output features per parallel task: enough work to outweigh scheduling, enough tasks to balance.
const FEATURES_PER_TASK: usize = 16;
/// A register block: rows x features sums of LANES lanes each (see the top of the file).
const BLOCK_ROWS: usize = 2;
const BLOCK_FEATURES: usize = 4;

/// y = x W^T for x (rows, k) and W (out_features, k), both row-major; y is (rows, out_features).
pub fn rows_times_weight_t(x: &[f32], rows: usize, weight: &[f32], out_features: usize) -> Vec<f32> {
    assert!(rows > 0 && x.len().is_multiple_of(rows), "x must hold {rows} rows");
    let k = x.len() / rows;
    assert_eq!(weight.len(), out_features * k, "the weight must be ({out_features}, {k})");
    // Computed feature-major, (out_features, rows), so that each task writes one contiguous stretch.
    let mut by_feature = vec![0f32; out_features * rows];
    by_feature.par_chunks_mut(FEATURES_PER_TASK * rows).enumerate().for_each(|(task, out)| {
        let first = task * FEATURES_PER_TASK;
        let features = out.len() / rows;
        features_times_rows(x, rows, k, &weight[first * k..(first + features) * k], out);
    });
    let mut y = vec![0f32; rows * out_features];
    for (feature, values) in by_feature.chunks(rows).enumerate() {
        for (row, &v) in values.iter().enumerate() {
            y[row * out_features + feature] = v;
        }
    }
    y
}

/// out[f * rows + r] = x[r] . w[f] for each feature row f of `w` and row r of `x` (both of length k).
fn features_times_rows(x: &[f32], rows: usize, k: usize, w: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { features_times_rows_avx2(x, rows, k, w, out) };
    }
    features_times_rows_portable(x, rows, k, w, out)
}

/// The same code, compiled with AVX2 and FMA available, so that the lanes become one register.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn features_times_rows_avx2(x: &[f32], rows: usize, k: usize, w: &[f32], out: &mut [f32]) {
    features_times_rows_portable(x, rows, k, w, out)
}

#[inline(always)]
fn features_times_rows_portable(x: &[f32], rows: usize, k: usize, w: &[f32], out: &mut [f32]) {
    let features = w.len() / k;
    let mut f = 0;
    while f < features {
        let nf = (features - f).min(BLOCK_FEATURES);
        let mut r = 0;
        while r < rows {
            let nr = (rows - r).min(BLOCK_ROWS);
            let (xs, ws) = (&x[r * k..(r + nr) * k], &w[f * k..(f + nf) * k]);
            const F: usize = BLOCK_FEATURES;
            let sums = match (nr, nf) {
                (2, F) => block::<2, F>(xs, ws, k),
                (1, F) => block::<1, F>(xs, ws, k),
                _ => {
                    // The last few features (out_features not a multiple of the block's): one at a time.
                    let mut sums = [[0f32; BLOCK_FEATURES]; BLOCK_ROWS];
                    for i in 0..nr {
                        for j in 0..nf {
                            sums[i][j] = block::<1, 1>(&xs[i * k..(i + 1) * k], &ws[j * k..(j + 1) * k], k)[0][0];
                        }
                    }
                    sums
                }
            };
            for j in 0..nf {
                for i in 0..nr {
                    out[(f + j) * rows + r + i] = sums[i][j];
                }
            }
            r += nr;
        }
        f += nf;
    }
}

/// The R x F dot products of R rows of `x` with F rows of `w`. Each is computed exactly as it would be
/// alone: its own eight lanes, fused multiply-adds over k in order, then the fixed reduction.
#[inline(always)]
fn block<const R: usize, const F: usize>(x: &[f32], w: &[f32], k: usize) -> [[f32; BLOCK_FEATURES]; BLOCK_ROWS] {
    let mut acc = [[[0f32; LANES]; F]; R];
    let whole = k - k % LANES;
    let mut start = 0;
    while start < whole {
        let mut wv = [[0f32; LANES]; F];
        for (j, lanes) in wv.iter_mut().enumerate() {
            lanes.copy_from_slice(&w[j * k + start..j * k + start + LANES]);
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let mut xv = [0f32; LANES];
            xv.copy_from_slice(&x[i * k + start..i * k + start + LANES]);
            for (sum, wl) in row.iter_mut().zip(&wv) {
                for lane in 0..LANES {
                    sum[lane] = xv[lane].mul_add(wl[lane], sum[lane]);
                }
            }
        }
        start += LANES;
    }
    let mut out = [[0f32; BLOCK_FEATURES]; BLOCK_ROWS];
    for i in 0..R {
        for j in 0..F {
            let l = &acc[i][j];
            let mut sum = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
            for t in whole..k {
                sum = x[i * k + t].mul_add(w[j * k + t], sum);
            }
            out[i][j] = sum;
        }
    }
    out
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
