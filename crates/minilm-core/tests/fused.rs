//! The fused CPU kernels against the composite layers (candle's own ops) on cases the whole-model
//! golden test does not reach: queries after a KV cache's prefix, and splitting heads then merging
//! them back with and without RoPE.

use candle_core::{Device, Tensor};
use minilm_core::model::layers::{merge_heads, split_heads, RopeCache};
use minilm_core::model::{composite, fused};

fn random(shape: &[usize], seed: u64) -> Tensor {
    let count: usize = shape.iter().product();
    // A small LCG: fixed values without a dependency.
    let mut state = seed;
    let values: Vec<f32> = (0..count)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn max_difference(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn causal_softmax_after_a_prefix_matches_the_composite_version() {
    // 2 heads' queries stacked (2 x 3 rows) at positions 5..8, against 8 keys.
    let scores = random(&[1, 1, 6, 8], 1);
    let fused = fused::causal_softmax(&scores, 0.125, 3, 5).unwrap();
    let composite = composite::causal_softmax(&scores, 0.125, 3, 5).unwrap();
    assert!(max_difference(&fused, &composite) < 1e-6);
    // The query at position 5 sees keys 0..=5 only.
    let first_row: Vec<f32> = fused.flatten_all().unwrap().narrow(0, 0, 8).unwrap().to_vec1().unwrap();
    assert_eq!(&first_row[6..], &[0.0, 0.0]);
    assert!(first_row[..6].iter().all(|&w| w > 0.0));
}

#[test]
fn causal_softmax_backward_matches_autograd() {
    let scores = candle_core::Var::from_tensor(&random(&[2, 1, 8, 4], 2)).unwrap();
    let upstream = random(&[2, 1, 8, 4], 3);
    let weights = composite::causal_softmax(scores.as_tensor(), 0.5, 4, 0).unwrap();
    let grads = (weights.clone() * &upstream).unwrap().sum_all().unwrap().backward().unwrap();
    let want = grads.get(scores.as_tensor()).unwrap();
    let got = fused::causal_softmax_backward(&weights.detach(), &upstream, 0.5, 4, 0).unwrap();
    assert!(max_difference(&got, want) < 1e-5);
}

#[test]
fn split_then_merge_heads_is_the_identity_with_and_without_rope() {
    let (batch, t, heads, groups, d) = (2, 5, 4, 2, 8);
    let x = random(&[batch * t, heads * d], 4);
    let rope = RopeCache::new(6, 10000.0, 16, &Device::Cpu).unwrap(); // partial: 6 of 8 dims rotate
    let rotated = split_heads(&x, batch, 0, heads, groups, d, Some((&rope, 3))).unwrap();
    let composite_rotated = {
        let y = x.reshape((batch, t, heads, d)).unwrap().transpose(1, 2).unwrap().contiguous().unwrap();
        let (cos, sin) = rope.angles(3, t).unwrap();
        composite::rope(&y, &cos, &sin).unwrap().reshape((batch, groups, heads / groups * t, d)).unwrap()
    };
    assert!(max_difference(&rotated, &composite_rotated) < 1e-6);
    let back = fused::merge_heads(&rotated, heads, Some(&rope.rotation(3))).unwrap();
    assert!(max_difference(&back, &x) < 1e-5);
    let plain = split_heads(&x, batch, 0, heads, groups, d, None).unwrap();
    assert_eq!(max_difference(&merge_heads(&plain, heads).unwrap(), &x), 0.0);
}

#[test]
fn embedding_backward_sums_each_tokens_positions_as_index_add_does() {
    let ids = [3u32, 0, 3, 5, 3, 1];
    let dx = random(&[6, 4], 5);
    let got = fused::embedding_backward(&ids, &dx, 7).unwrap();
    let want = Tensor::zeros((7, 4), candle_core::DType::F32, &Device::Cpu)
        .unwrap()
        .index_add(&Tensor::new(&ids, &Device::Cpu).unwrap(), &dx, 0)
        .unwrap();
    assert_eq!(max_difference(&got, &want), 0.0);
    // Tokens absent from the batch get zero rows.
    let rows: Vec<Vec<f32>> = got.to_vec2().unwrap();
    assert!(rows[2].iter().chain(&rows[4]).chain(&rows[6]).all(|&v| v == 0.0));
    assert!(fused::embedding_backward(&[9], &random(&[1, 4], 6), 7).unwrap_err().to_string().contains("outside the vocabulary"));
}
