//! The model against PyTorch: logits, loss, the gradient of every parameter and five clipped AdamW
//! steps, for two tiny configs (tied GQA; untied MQA with partial RoPE and a padded vocabulary).
//! Both gradient paths are checked: by hand with the fused kernels (float32 on the CPU, what training
//! uses here) and candle's autograd over the composite layers (what other devices and dtypes use; run
//! here in float64, which the fused kernels leave to the composite layers).
//! The values come from scripts/reference/make_model_golden.py (torch 2.15, float32, one thread),
//! which runs an independent litgpt-equivalent PyTorch model and is checked against litgpt itself.

mod support;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use minilm_core::model::{Llama, Parameters};
use minilm_core::train::optimizer::{clip_grad_norm, AdamW, AdamWConfig};
use serde::Deserialize;
use support::{golden, model, tensors, Array, Case};

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

fn assert_gradients_match(case: &Case, model: &Llama, path: &str) {
    let (loss, grads) = model.loss_and_grads(&windows(case), 1.0).unwrap();
    assert!((loss - case.loss).abs() < 1e-5, "{} ({path}): loss {loss} vs {}", case.name, case.loss);
    assert_eq!(model.params.len(), case.grads.len(), "{}: parameter count", case.name);
    for ((name, _), grad) in model.params.iter().zip(&grads) {
        let got: Vec<f32> = grad.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert!(got.iter().any(|g| *g != 0.0), "{} ({path}): gradient of {name} is all zero", case.name);
        assert_close(&format!("{} ({path}) grad {name}", case.name), &got, &case.grads[name].data, 1e-6, 1e-3);
    }
}

#[test]
fn every_gradient_matches_pytorch_and_is_non_zero() {
    for case in golden().cases {
        assert_gradients_match(&case, &model(&case), "by hand, fused float32");
    }
}

#[test]
fn autograd_over_composite_layers_matches_pytorch() {
    for case in golden().cases {
        let model = model(&case);
        let params = model.params.to_dtype(DType::F64).unwrap();
        let model = Llama::new(case.config.clone(), params, &Device::Cpu).unwrap();
        let t = case.input_ids[0].len() - 1;
        let logits = model.forward(&windows(&case).narrow(1, 0, t).unwrap()).unwrap().to_dtype(DType::F32).unwrap();
        assert_close(&format!("{} (autograd) logits", case.name), &logits.flatten_all().unwrap().to_vec1().unwrap(), &case.logits.data, 1e-5, 1e-4);
        assert_gradients_match(&case, &model, "autograd, composite float64");
    }
}

#[test]
fn five_clipped_adamw_steps_match_pytorch() {
    for case in golden().cases {
        let model = model(&case);
        let run = &case.adamw;
        let config = AdamWConfig { weight_decay: run.weight_decay, betas: run.betas, eps: run.eps };
        let mut optimizer = AdamW::new(config, &model.params).unwrap();
        for (step, (want_loss, want_norm)) in run.losses.iter().zip(&run.grad_norms).enumerate() {
            let (got_loss, mut grads) = model.loss_and_grads(&windows(&case), 1.0).unwrap();
            assert!((got_loss - want_loss).abs() < 1e-4, "{} step {step}: loss {got_loss} vs {want_loss}", case.name);
            let norm = clip_grad_norm(&mut grads, run.max_norm).unwrap();
            assert!((norm - want_norm).abs() < 1e-4 * want_norm, "{} step {step}: grad norm {norm} vs {want_norm}", case.name);
            optimizer.step(&model.params, &grads, run.lr).unwrap();
        }
        for (name, var) in model.params.iter() {
            let got: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            assert_close(&format!("{} weight {name} after 5 steps", case.name), &got, &run.final_weights[name].data, 2e-5, 1e-3);
        }
    }
}

#[derive(Deserialize)]
struct HfGolden {
    cases: Vec<HfCase>,
}

#[derive(Deserialize)]
struct HfCase {
    name: String,
    source_case: String,
    rotary_percentage: f64,
    input_ids: Vec<Vec<u32>>,
    state_dict_names: Vec<String>,
    logits: Array,
}

/// transformers' LlamaForCausalLM, loaded from `minilm export`'s folder for these weights
/// (scripts/reference/make_hf_golden.py), gives minilm's logits; the export holds exactly its tensors.
#[test]
fn hugging_face_export_gives_transformers_the_same_logits() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/hf_llama.json");
    let hf: HfGolden = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let golden = golden();
    for case in hf.cases {
        let source = golden.cases.iter().find(|c| c.name == case.source_case).unwrap();
        let mut config = source.config.clone();
        config.rotary_percentage = case.rotary_percentage;
        let params = Parameters::from_tensors(&config, tensors(&source.weights), Path::new("golden"), &Device::Cpu).unwrap();
        let exported = minilm_core::model::export_hf::hf_tensors(&config, &params).unwrap();
        let mut names: Vec<&String> = exported.keys().collect();
        names.sort();
        // transformers lists the tied lm_head in its state dict; the file stores it once, as embed_tokens.
        let want: Vec<&String> = case.state_dict_names.iter().filter(|n| !(config.tie_embeddings && *n == "lm_head.weight")).collect();
        assert_eq!(names, want, "{}: exported tensor names", case.name);
        let model = Llama::new(config, params, &Device::Cpu).unwrap();
        let logits = model.forward(&Tensor::new(case.input_ids.clone(), &Device::Cpu).unwrap()).unwrap();
        assert_eq!(logits.dims(), case.logits.shape.as_slice());
        assert_close(&format!("{} logits vs transformers", case.name), &logits.flatten_all().unwrap().to_vec1().unwrap(), &case.logits.data, 1e-5, 1e-4);
    }
}
