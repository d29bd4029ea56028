//! Every fused CPU kernel against its composite version (candle's own ops): forward values, and
//! backward values against candle's autograd of the composite version, at odd sizes and on the cases
//! the whole-model golden test does not reach (queries after a KV cache's prefix, heads split then
//! merged back with and without RoPE, transposed and narrowed operands, saturated gates, peaked
//! logits). float32 throughout, so the tolerances are tight: `assert_close` allows 1e-5 of the largest value.

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
    let rotated = split_heads(&x, batch, 0, heads, groups, d, Some(&rope.rotation(3))).unwrap();
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

/// `random` scaled by `scale`.
fn scaled(shape: &[usize], seed: u64, scale: f64) -> Tensor {
    (random(shape, seed) * scale).unwrap()
}

/// The largest difference relative to the largest expected magnitude: float32 kernels that compute
/// the same sums in another order agree to a few units in the last place of the largest value.
fn assert_close(got: &Tensor, want: &Tensor, what: &str) {
    const RELATIVE: f32 = 1e-5;
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let scale = want.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    let error = max_difference(got, want) / scale.max(f32::MIN_POSITIVE);
    assert!(error <= RELATIVE, "{what}: relative error {error:e} (largest value {scale})");
}

/// Gradients of sum(f(inputs) * upstream) with respect to each input, by candle's autograd.
fn autograd(inputs: &[&Tensor], upstream: &Tensor, f: impl Fn(&[Tensor]) -> Tensor) -> Vec<Tensor> {
    let vars: Vec<candle_core::Var> = inputs.iter().map(|t| candle_core::Var::from_tensor(t).unwrap()).collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = (f(&tensors) * upstream).unwrap().sum_all().unwrap().backward().unwrap();
    tensors.iter().map(|t| grads.get(t).expect("a gradient for every input").clone()).collect()
}

#[test]
fn rms_norm_and_its_backward_match_the_composite_version_and_autograd() {
    // Odd widths, a single row, rank 3, a transposed (non-contiguous) input, and
    // rows small enough that eps dominates their mean square.
    let cases: [(&[usize], f64, bool); 6] = [
        (&[1, 3], 1.0, false),
        (&[3, 7], 1.0, false),
        (&[2, 5, 33], 3.0, false),
        (&[17, 64], 1.0, true),
        (&[9, 129], 1e-3, false),
        (&[300, 5], 0.5, false),
    ];
    for (i, &(shape, magnitude, transposed)) in cases.iter().enumerate() {
        let what = format!("rms_norm {shape:?} x{magnitude}{}", if transposed { " transposed" } else { "" });
        let seed = 100 + 10 * i as u64;
        let x = if transposed { scaled(&[shape[1], shape[0]], seed, magnitude).t().unwrap() } else { scaled(shape, seed, magnitude) };
        let c = *shape.last().unwrap();
        let weight = (scaled(&[c], seed + 1, 0.5) + 1.0).unwrap();
        let dy = random(shape, seed + 2);
        let eps = 1e-5;
        assert_close(&fused::rms_norm(&x, &weight, eps).unwrap(), &composite::rms_norm(&x, &weight, eps).unwrap(), &what);
        let want = autograd(&[&x, &weight], &dy, |t| composite::rms_norm(&t[0], &t[1], eps).unwrap());
        let (dx, dw) = fused::rms_norm_backward(&x, &weight, &dy, None, eps).unwrap();
        assert_close(&dx, &want[0], &format!("{what}: dx"));
        assert_close(&dw, &want[1], &format!("{what}: dw"));
    }
}

#[test]
fn swiglu_and_its_backward_match_the_composite_version_and_autograd() {
    // Up to saturated gates (|a| around 20), and sizes across the kernel's parallel chunks (16,384).
    let cases: [(&[usize], f64); 5] = [(&[1], 1.0), (&[5, 11], 1.0), (&[2, 3, 37], 10.0), (&[3, 13_337], 2.0), (&[64, 257], 0.01)];
    for (i, &(shape, magnitude)) in cases.iter().enumerate() {
        let what = format!("swiglu {shape:?} x{magnitude}");
        let seed = 200 + 10 * i as u64;
        let (a, b, dy) = (scaled(shape, seed, magnitude), random(shape, seed + 1), random(shape, seed + 2));
        assert_close(&fused::swiglu(&a, &b).unwrap(), &composite::swiglu(&a, &b).unwrap(), &what);
        let want = autograd(&[&a, &b], &dy, |t| composite::swiglu(&t[0], &t[1]).unwrap());
        let (da, db) = fused::swiglu_backward(&a, &b, &dy).unwrap();
        assert_close(&da, &want[0], &format!("{what}: da"));
        assert_close(&db, &want[1], &format!("{what}: db"));
    }
}

#[test]
fn cross_entropy_and_its_gradient_match_log_softmax_and_nll_and_autograd() {
    // From nearly uniform rows to peaked ones (logits up to +-40), odd vocabularies, targets at both ends.
    let cases: [(usize, usize, f64); 5] = [(1, 2, 1.0), (7, 37, 1.0), (33, 1000, 5.0), (5, 6400, 20.0), (64, 129, 0.01)];
    for (i, &(rows, vocab, magnitude)) in cases.iter().enumerate() {
        let what = format!("cross_entropy {rows} x {vocab} x{magnitude}");
        let seed = 300 + 10 * i as u64;
        let logits = scaled(&[rows, vocab], seed, magnitude);
        let ids: Vec<u32> = (0..rows as u64)
            .map(|r| match r {
                0 => vocab as u32 - 1,
                1 => 0,
                _ => ((r * 2_654_435_761 + seed) % vocab as u64) as u32,
            })
            .collect();
        let targets = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap();
        let want = composite::cross_entropy(&logits, &targets).unwrap();
        let loss = fused::cross_entropy(&logits, &targets).unwrap();
        assert_close(&loss, &want, &what);
        let d_loss = 0.37;
        let want_grad = autograd(&[&logits], &Tensor::new(d_loss as f32, &Device::Cpu).unwrap(), |t| {
            composite::cross_entropy(&t[0], &targets).unwrap()
        });
        let (same_loss, grad) = fused::cross_entropy_with_grad(&logits, &targets, d_loss).unwrap();
        assert_eq!(same_loss.to_scalar::<f32>().unwrap(), loss.to_scalar::<f32>().unwrap(), "{what}: the loss as cross_entropy gives it");
        assert_close(&grad, &want_grad[0], &format!("{what}: dlogits"));
    }
    let logits = random(&[2, 5], 9);
    let out_of_vocabulary = Tensor::new(&[1u32, 5], &Device::Cpu).unwrap();
    for error in [
        fused::cross_entropy(&logits, &out_of_vocabulary).unwrap_err(),
        fused::cross_entropy_with_grad(&logits, &out_of_vocabulary, 1.0).unwrap_err(),
    ] {
        assert!(error.to_string().contains("outside the vocabulary"), "{error}");
    }
    let too_few = Tensor::new(&[1u32], &Device::Cpu).unwrap();
    assert!(fused::cross_entropy_with_grad(&logits, &too_few, 1.0).unwrap_err().to_string().contains("1 targets for 2 rows"));
}

#[test]
fn batched_matmul_matches_candles_matmul_on_contiguous_transposed_and_narrowed_operands() {
    let contiguous = |t: Tensor| t.contiguous().unwrap();
    // (a, b) pairs as attention passes them: plain, one side or both sides transposed views (K^T, the
    // backward's W^T), a narrowed view (rows longer than the matrix), odd sizes and a single element.
    let cases: Vec<(&str, Tensor, Tensor)> = vec![
        ("1x1x1", random(&[1, 1, 1], 400), random(&[1, 1, 1], 401)),
        ("rank 4", random(&[2, 3, 5, 7], 402), random(&[2, 3, 7, 4], 403)),
        ("b transposed", random(&[4, 9, 13], 404), random(&[4, 6, 13], 405).t().unwrap()),
        ("a transposed", random(&[2, 2, 33, 17], 406).t().unwrap(), random(&[2, 2, 33, 31], 407)),
        ("both transposed", random(&[3, 8, 5], 408).t().unwrap(), random(&[3, 11, 8], 409).t().unwrap()),
        ("a narrowed", random(&[2, 6, 20], 410).narrow(2, 3, 15).unwrap(), random(&[2, 15, 7], 411)),
        ("long rows", random(&[1, 2, 3, 300], 412), random(&[1, 2, 300, 65], 413)),
    ];
    for (what, a, b) in cases {
        let want = contiguous(a.clone()).matmul(&contiguous(b.clone())).unwrap();
        assert_close(&fused::batched_matmul(&a, &b).unwrap(), &want, what);
    }
    let mismatched = fused::batched_matmul(&random(&[2, 3, 4], 414), &random(&[2, 5, 3], 415)).unwrap_err();
    assert!(mismatched.to_string().contains("cannot multiply"), "{mismatched}");
}
