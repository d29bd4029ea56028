//! The DPO loss and the gradient of every parameter against PyTorch's (tests/golden/dpo.json, made by
//! scripts/reference/make_dpo_golden.py), on both gradient paths: by hand over the fused float32
//! kernels, and candle's autograd over the composite layers in float64.

use crate::support;

use std::collections::HashMap;

use candle_core::{DType, Device};
use minilm_core::model::Llama;
use minilm_core::train::batches::sft_batch;
use minilm_core::train::dpo::{DpoLossType, DpoOptions, PairLogps};
use serde::Deserialize;
use support::{golden, model, Array};

#[derive(Deserialize)]
struct DpoGolden {
    cases: Vec<DpoCase>,
}

#[derive(Deserialize)]
struct DpoCase {
    name: String,
    sequences: Vec<Sequence>,
    settings: Vec<Setting>,
}

#[derive(Deserialize)]
struct Sequence {
    ids: Vec<u32>,
    mask: Vec<u8>,
}

#[derive(Deserialize)]
struct Setting {
    loss_type: DpoLossType,
    beta: f64,
    label_smoothing: f64,
    reference_logps: Vec<f64>,
    policy_logps: Vec<f64>,
    loss: f64,
    chosen_rewards: Vec<f64>,
    rejected_rewards: Vec<f64>,
    grads: HashMap<String, Array>,
}

fn dpo_golden() -> DpoGolden {
    let path = support::crate_dir().join("tests/golden/dpo.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * (1.0 + b.abs())
}

fn check(model: &Llama, case: &DpoCase, setting: &Setting, path: &str) {
    let what = format!("{} {:?} beta {} smoothing {} ({path})", case.name, setting.loss_type, setting.beta, setting.label_smoothing);
    let dpo = DpoOptions { beta: setting.beta, loss_type: setting.loss_type, label_smoothing: setting.label_smoothing };
    let rows: Vec<_> = case.sequences.iter().map(|s| vec![(s.ids.clone(), s.mask.clone())]).collect();
    let batch = sft_batch(&rows, false).unwrap().batch;
    let counts: Vec<usize> = case.sequences.iter().map(|s| s.mask[1..].iter().filter(|&&m| m == 1).count()).collect();
    let reference: Vec<PairLogps> =
        setting.reference_logps.chunks(2).map(|pair| PairLogps { chosen: pair[0], rejected: pair[1] }).collect();
    let mut terms = None;
    let (loss, grads) = model
        .sequence_loss_and_grads(&batch, |nll| {
            let batch_loss = dpo.batch_loss(nll, &counts, &reference);
            terms = Some(batch_loss.pairs);
            Ok((batch_loss.loss, batch_loss.d_nll))
        })
        .unwrap();
    assert!(close(loss, setting.loss, 1e-5), "{what}: loss {loss}, PyTorch {}", setting.loss);
    for (p, (policy, pair)) in terms.unwrap().iter().enumerate() {
        assert!(close(policy.chosen, setting.policy_logps[2 * p], 1e-5), "{what}: pair {p} chosen logps {}", policy.chosen);
        assert!(close(policy.rejected, setting.policy_logps[2 * p + 1], 1e-5), "{what}: pair {p} rejected logps");
        assert!(close(pair.chosen_reward, setting.chosen_rewards[p], 1e-5), "{what}: pair {p} chosen reward {}", pair.chosen_reward);
        assert!(close(pair.rejected_reward, setting.rejected_rewards[p], 1e-5), "{what}: pair {p} rejected reward");
    }
    for ((name, _), grad) in model.params.iter().zip(&grads) {
        let want = &setting.grads[name].data;
        let got: Vec<f32> = grad.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let scale = want.iter().fold(0f32, |m, &x| m.max(x.abs())).max(1e-6);
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-5 * scale.max(1.0), "{what}: {name}[{i}] = {g}, PyTorch {w} (scale {scale})");
        }
    }
}

#[test]
fn the_dpo_loss_and_every_gradient_match_pytorch() {
    let goldens = golden();
    for case in dpo_golden().cases {
        let model_case = goldens.cases.iter().find(|c| c.name == case.name).expect("the same configs as tiny_llama.json");
        let by_hand = model(model_case);
        let params = by_hand.params.to_dtype(DType::F64).unwrap();
        let autograd = Llama::new(model_case.config.clone(), params, &Device::Cpu).unwrap();
        for setting in &case.settings {
            check(&by_hand, &case, setting, "by hand, fused float32");
            check(&autograd, &case, setting, "autograd, composite float64");
        }
    }
}
