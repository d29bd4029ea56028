//! The model against PyTorch: logits, loss, the gradient of every parameter and five clipped AdamW
//! steps, for two tiny configs (tied GQA; untied MQA with partial RoPE and a padded vocabulary).
//! The values come from scripts/reference/make_model_golden.py (torch 2.15, float32, one thread),
//! which runs an independent litgpt-equivalent PyTorch model and is checked against litgpt itself.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use minilm_core::model::{Llama, ModelConfig, Parameters};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    config: ModelConfig,
    input_ids: Vec<Vec<u32>>,
    weights: HashMap<String, Array>,
    logits: Array,
    loss: f64,
    grads: HashMap<String, Array>,
}

#[derive(Deserialize)]
struct Array {
    shape: Vec<usize>,
    data: Vec<f32>,
}

fn golden() -> Golden {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tiny_llama.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn tensors(arrays: &HashMap<String, Array>) -> HashMap<String, Tensor> {
    arrays
        .iter()
        .map(|(name, a)| (name.clone(), Tensor::from_vec(a.data.clone(), a.shape.as_slice(), &Device::Cpu).unwrap()))
        .collect()
}

fn model(case: &Case) -> Llama {
    let params = Parameters::from_tensors(&case.config, tensors(&case.weights), Path::new("golden"), &Device::Cpu).unwrap();
    Llama::new(case.config.clone(), params, &Device::Cpu).unwrap()
}

fn windows(case: &Case) -> Tensor {
    Tensor::new(case.input_ids.clone(), &Device::Cpu).unwrap()
}

fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{what}[{i}]: minilm {g}, PyTorch {w}");
    }
}

#[test]
fn logits_and_loss_match_pytorch() {
    for case in golden().cases {
        let model = model(&case);
        let t = case.input_ids[0].len() - 1;
        let logits = model.forward(&windows(&case).narrow(1, 0, t).unwrap()).unwrap();
        assert_eq!(logits.dims(), case.logits.shape.as_slice(), "{}", case.name);
        assert_close(&format!("{} logits", case.name), &logits.flatten_all().unwrap().to_vec1().unwrap(), &case.logits.data, 1e-5, 1e-4);
        let loss = model.loss(&windows(&case)).unwrap().to_scalar::<f32>().unwrap();
        assert!((loss as f64 - case.loss).abs() < 1e-5, "{}: loss {loss} vs {}", case.name, case.loss);
    }
}

#[test]
fn every_gradient_matches_pytorch_and_is_non_zero() {
    for case in golden().cases {
        let model = model(&case);
        let grads = model.loss(&windows(&case)).unwrap().backward().unwrap();
        assert_eq!(model.params.len(), case.grads.len(), "{}: parameter count", case.name);
        for (name, var) in model.params.iter() {
            let grad = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{}: no gradient reached {name}", case.name));
            let got: Vec<f32> = grad.flatten_all().unwrap().to_vec1().unwrap();
            assert!(got.iter().any(|g| *g != 0.0), "{}: gradient of {name} is all zero", case.name);
            assert_close(&format!("{} grad {name}", case.name), &got, &case.grads[name].data, 1e-6, 1e-3);
        }
    }
}
