//! The model against PyTorch: logits, loss, the gradient of every parameter and five clipped AdamW
//! steps, for two tiny configs (tied GQA; untied MQA with partial RoPE and a padded vocabulary).
//! Both gradient paths are checked: by hand with the fused kernels (float32 on the CPU, what training
//! uses here) and candle's autograd over the composite layers (what other devices and dtypes use; run
//! here in float64, which the fused kernels leave to the composite layers).
//! The values come from scripts/reference/make_model_golden.py (torch 2.15, float32, one thread),
//! which runs an independent litgpt-equivalent PyTorch model and is checked against litgpt itself.

use crate::support;

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
    let loss = scalar(&loss);
    assert!((loss - case.loss).abs() < 1e-5, "{} ({path}): loss {loss} vs {}", case.name, case.loss);
    assert_eq!(model.params.len(), case.grads.len(), "{}: parameter count", case.name);
    for ((name, _), grad) in model.params.iter().zip(&grads) {
        let got: Vec<f32> = grad.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert!(got.iter().any(|g| *g != 0.0), "{} ({path}): gradient of {name} is all zero", case.name);
        assert_close(&format!("{} ({path}) grad {name}", case.name), &got, &case.grads[name].data, 1e-6, 1e-3);
    }
}

fn scalar(loss: &Tensor) -> f64 {
    loss.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

#[test]
fn every_gradient_matches_pytorch_and_is_non_zero() {
    for case in golden().cases {
        assert_gradients_match(&case, &model(&case), "by hand, fused float32");
    }
}

/// The flash attention path as the model wires it (forward keeps the log-sum-exp, backward recomputes),
/// through its CPU twin: what the GPU runs, checked here against PyTorch. The switch holds for this
/// test's thread only.
#[test]
fn flash_attention_path_matches_pytorch() {
    minilm_core::model::fused::set_flash_attention_on_cpu(true);
    for case in golden().cases {
        assert_gradients_match(&case, &model(&case), "by hand, flash attention");
    }
    minilm_core::model::fused::set_flash_attention_on_cpu(false);
}

#[test]
fn autograd_over_composite_layers_matches_pytorch() {
    for case in golden().cases {
        let model = model(&case);
        let params = model.params.to_dtype(DType::F64).unwrap();
        let model = Llama::new(case.config.clone(), params, &Device::Cpu).unwrap();
        let t = case.input_ids[0].len() - 1;
        let logits = model.forward(&windows(&case).narrow(1, 0, t).unwrap()).unwrap().to_dtype(DType::F32).unwrap();
        assert_close(
            &format!("{} (autograd) logits", case.name),
            &logits.flatten_all().unwrap().to_vec1().unwrap(),
            &case.logits.data,
            1e-5,
            1e-4,
        );
        assert_gradients_match(&case, &model, "autograd, composite float64");
    }
}

/// Five clipped AdamW steps from `model`, checked against PyTorch's losses, norms and final weights.
fn assert_adamw_steps_match(case: &Case, model: &Llama, path: &str) {
    let run = &case.adamw;
    let config = AdamWConfig { weight_decay: run.weight_decay, betas: run.betas, eps: run.eps };
    let mut optimizer = AdamW::new(config, &model.params).unwrap();
    for (step, (want_loss, want_norm)) in run.losses.iter().zip(&run.grad_norms).enumerate() {
        let (got_loss, mut grads) = model.loss_and_grads(&windows(case), 1.0).unwrap();
        let got_loss = scalar(&got_loss);
        assert!((got_loss - want_loss).abs() < 1e-4, "{} ({path}) step {step}: loss {got_loss} vs {want_loss}", case.name);
        let norm = clip_grad_norm(&mut grads, run.max_norm).unwrap();
        assert!((norm - want_norm).abs() < 1e-4 * want_norm, "{} ({path}) step {step}: grad norm {norm} vs {want_norm}", case.name);
        optimizer.step(&model.params, &grads, run.lr).unwrap();
    }
    for (name, var) in model.params.iter() {
        let got: Vec<f32> = var.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_close(&format!("{} ({path}) weight {name} after 5 steps", case.name), &got, &run.final_weights[name].data, 2e-5, 1e-3);
    }
}

#[test]
fn five_clipped_adamw_steps_match_pytorch() {
    for case in golden().cases {
        assert_adamw_steps_match(&case, &model(&case), "in-place float32 AdamW");
    }
}

/// What a GPU runs in float32: autograd over the composite layers and AdamW as tensor ops (the in-place
/// CPU kernel takes float32 CPU tensors only), here in float64 on the CPU.
#[test]
fn five_adamw_steps_through_the_tensor_op_path_match_pytorch() {
    for case in golden().cases {
        let params = model(&case).params.to_dtype(DType::F64).unwrap();
        let model = Llama::new(case.config.clone(), params, &Device::Cpu).unwrap();
        assert_adamw_steps_match(&case, &model, "tensor-op AdamW, float64");
    }
}

/// bf16-mixed's mechanics (float32 weights, half-precision activations and matmuls, norms / softmax /
/// RoPE / loss widened to float32, gradients cast back to the float32 weights) checked on the CPU with
/// float16, which candle's CPU matmul has (it has no bfloat16 one). The GPU check repeats this in bf16.
#[test]
fn half_precision_compute_over_float32_weights_stays_within_half_tolerance_of_pytorch() {
    for case in golden().cases {
        let model = model(&case).with_compute_dtype(DType::F16);
        let (loss, grads) = model.loss_and_grads(&windows(&case), 1.0).unwrap();
        let loss = scalar(&loss);
        assert!((loss - case.loss).abs() < 2e-2, "{}: float16 loss {loss} vs PyTorch float32 {}", case.name, case.loss);
        for ((name, var), grad) in model.params.iter().zip(&grads) {
            assert_eq!(grad.dtype(), DType::F32, "{name}: the gradient reaches the float32 weight");
            assert_eq!(var.dtype(), DType::F32);
            let got: Vec<f32> = grad.flatten_all().unwrap().to_vec1().unwrap();
            let want = &case.grads[name].data;
            // Direction and size per tensor: elementwise tolerances mean little at 11 bits of mantissa.
            let dot: f64 = got.iter().zip(want).map(|(g, w)| *g as f64 * *w as f64).sum();
            let (norm_got, norm_want) =
                (got.iter().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt(), want.iter().map(|w| (*w as f64).powi(2)).sum::<f64>().sqrt());
            let cosine = dot / (norm_got * norm_want);
            assert!(cosine > 0.99, "{} grad {name}: cosine {cosine} to PyTorch's", case.name);
            assert!((norm_got / norm_want - 1.0).abs() < 0.05, "{} grad {name}: norm {norm_got} vs {norm_want}", case.name);
        }
    }
}

#[test]
fn adamw_keeps_bfloat16_weights_in_bfloat16_with_float32_moments() {
    // bf16-true: the update is computed in float32 and written back in the weights' bfloat16.
    for case in golden().cases {
        let reference = model(&case);
        let (_, grads) = reference.loss_and_grads(&windows(&case), 1.0).unwrap();
        let config = AdamWConfig { weight_decay: case.adamw.weight_decay, betas: case.adamw.betas, eps: case.adamw.eps };
        let bf16 = reference.params.to_dtype(DType::BF16).unwrap();
        let mut float32_optimizer = AdamW::new(config.clone(), &reference.params).unwrap();
        let mut bf16_optimizer = AdamW::new(config, &bf16).unwrap();
        float32_optimizer.step(&reference.params, &grads, case.adamw.lr).unwrap();
        bf16_optimizer.step(&bf16, &grads, case.adamw.lr).unwrap();
        for ((name, want), (_, got)) in reference.params.iter().zip(bf16.iter()) {
            assert_eq!(got.dtype(), DType::BF16, "{name}");
            let got: Vec<f32> = got.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
            assert_close(&format!("{} bf16 weight {name} after a step", case.name), &got, &want, 1e-3, 1e-2);
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
    let path = support::crate_dir().join("tests/golden/hf_llama.json");
    let hf: HfGolden = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let golden = golden();
    for case in hf.cases {
        let source = golden.cases.iter().find(|c| c.name == case.source_case).unwrap();
        let mut config = source.config.clone();
        config.rotary_percentage = case.rotary_percentage;
        let params = Parameters::from_tensors(&config, tensors(&source.weights), Path::new("golden"), &Device::Cpu).unwrap();
        let exported = minilm_core::model::hf::hf_tensors(&config, &params).unwrap();
        let mut names: Vec<&String> = exported.keys().collect();
        names.sort();
        // transformers lists the tied lm_head in its state dict; the file stores it once, as embed_tokens.
        let want: Vec<&String> = case.state_dict_names.iter().filter(|n| !(config.tie_embeddings && *n == "lm_head.weight")).collect();
        assert_eq!(names, want, "{}: exported tensor names", case.name);
        let model = Llama::new(config, params, &Device::Cpu).unwrap();
        let logits = model.forward(&Tensor::new(case.input_ids.clone(), &Device::Cpu).unwrap()).unwrap();
        assert_eq!(logits.dims(), case.logits.shape.as_slice());
        assert_close(
            &format!("{} logits vs transformers", case.name),
            &logits.flatten_all().unwrap().to_vec1().unwrap(),
            &case.logits.data,
            1e-5,
            1e-4,
        );
    }
}
