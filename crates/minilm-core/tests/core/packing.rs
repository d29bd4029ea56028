//! Packed SFT: conversations packed into one row are each computed as if alone (attention inside each,
//! positions restarting), so every scored token's loss, the batch's mean loss and every gradient equal
//! the unpacked batch's. Checked on both gradient paths: by hand over the fused float32 kernels, and
//! candle's autograd over the composite layers in float64.

use crate::support;

use candle_core::{DType, Device, Tensor};
use minilm_core::model::{Llama, TokenBatch};
use minilm_core::train::batches::{sft_batch, Example};
use support::{golden, model};

/// Four conversations of 8, 6, 5 and 4 tokens (7 + 5 + 4 positions fill a row of block_size 16), with
/// their prompts (mask 0) left out of the loss. Ids from a fixed pattern within the vocabulary.
fn conversations(vocab: u32) -> Vec<Example> {
    [(8, 3), (6, 2), (5, 1), (4, 2)]
        .iter()
        .enumerate()
        .map(|(c, &(len, prompt))| {
            let ids = (0..len).map(|i| (7 + 13 * c as u32 + 5 * i as u32) % vocab).collect();
            let mask = (0..len).map(|i| u8::from(i >= prompt)).collect();
            (ids, mask)
        })
        .collect()
}

fn packed_and_unpacked(vocab: u32) -> (TokenBatch, TokenBatch) {
    let c = conversations(vocab);
    let packed = sft_batch(&[vec![c[0].clone(), c[1].clone(), c[2].clone()], vec![c[3].clone()]], true).unwrap();
    let unpacked = sft_batch(&c.into_iter().map(|e| vec![e]).collect::<Vec<_>>(), false).unwrap();
    assert_eq!(packed.batch.inputs.dims(), [2, 16]);
    assert_eq!((packed.scored, packed.tokens), (unpacked.scored, unpacked.tokens));
    (packed.batch, unpacked.batch)
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1().unwrap()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tolerance: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tolerance * (1.0 + w.abs()), "{what}[{i}]: packed {g}, unpacked {w}");
    }
}

fn assert_packing_changes_nothing(model: &Llama, name: &str, vocab: u32) {
    let (packed, unpacked) = packed_and_unpacked(vocab);
    // Each scored token's loss (in the same order: conversation by conversation), so each
    // conversation's loss too.
    let nll = |batch: &TokenBatch| model.target_nll(batch).unwrap().into_iter().map(f64::from).collect::<Vec<_>>();
    let (packed_nll, unpacked_nll) = (nll(&packed), nll(&unpacked));
    assert_close(&format!("{name}: token losses"), &packed_nll, &unpacked_nll, 1e-5);

    let (packed_loss, packed_grads) = model.batch_loss_and_grads(&packed, 1.0).unwrap();
    let (unpacked_loss, unpacked_grads) = model.batch_loss_and_grads(&unpacked, 1.0).unwrap();
    assert_close(&format!("{name}: mean loss"), &values(&packed_loss), &values(&unpacked_loss), 1e-5);
    for ((param, _), (p, u)) in model.params.iter().zip(packed_grads.iter().zip(&unpacked_grads)) {
        let (p, u) = (values(p), values(u));
        assert!(u.iter().any(|&g| g != 0.0), "{name}: {param} has no gradient");
        assert_close(&format!("{name}: gradient of {param}"), &p, &u, 1e-5);
    }

    // Without the packing the same rows mix the conversations: the check above can tell.
    let mixed = TokenBatch { packing: None, ..packed };
    assert!(
        nll(&mixed).iter().zip(&unpacked_nll).any(|(m, u)| (m - u).abs() > 1e-3),
        "{name}: ignoring the packing should change the later conversations' losses"
    );
}

#[test]
fn packed_conversations_have_their_unpacked_losses_and_gradients() {
    for case in golden().cases {
        let vocab = case.config.vocab_size as u32;
        assert_packing_changes_nothing(&model(&case), &format!("{} (by hand, fused float32)", case.name), vocab);
        let params = model(&case).params.to_dtype(DType::F64).unwrap();
        let composite = Llama::new(case.config.clone(), params, &Device::Cpu).unwrap();
        assert_packing_changes_nothing(&composite, &format!("{} (autograd, composite float64)", case.name), vocab);
    }
}
