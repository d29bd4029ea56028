//! LoRA against PyTorch (tests/golden/lora.json, made by scripts/reference/make_lora_golden.py, whose
//! adapters run unmerged as peft's and litgpt's do): minilm's merged weights give the same logits, the
//! adapters' gradients read off the merged weights' gradients are PyTorch's, on both gradient paths, and
//! three clipped AdamW steps over the adapters alone land on the same adapters. Then the files: a LoRA
//! folder merges back onto its base only.

use crate::support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use minilm_core::model::lora::{merge_adapter_folder, Adapters, BaseWeights, LoraConfig};
use minilm_core::model::{load_adapted_weights, Llama, WeightsFormat};
use minilm_core::train::optimizer::{clip_grad_norm, AdamW, AdamWConfig};
use serde::Deserialize;
use support::{golden, model, Array, Case};

#[derive(Deserialize)]
struct LoraGolden {
    cases: Vec<LoraCase>,
}

#[derive(Deserialize)]
struct LoraCase {
    name: String,
    lora: LoraConfig,
    adapters: HashMap<String, Array>,
    logits: Array,
    loss: f64,
    grads: HashMap<String, Array>,
    adamw: AdamWRun,
}

#[derive(Deserialize)]
struct AdamWRun {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    max_norm: f64,
    losses: Vec<f64>,
    grad_norms: Vec<f64>,
    final_adapters: HashMap<String, Array>,
}

fn lora_golden() -> Vec<(Case, LoraCase)> {
    let path = support::crate_dir().join("tests/golden/lora.json");
    let lora: LoraGolden = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut models = golden().cases;
    lora.cases
        .into_iter()
        .map(|c| {
            let index = models.iter().position(|m| m.name == c.name).expect("the same configs as tiny_llama.json");
            (models.remove(index), c)
        })
        .collect()
}

fn adapters(case: &Case, lora: &LoraCase, values: &HashMap<String, Array>) -> Adapters {
    Adapters::from_tensors(&lora.lora, &case.config, support::tensors(values), Path::new("golden")).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1f32, |m, &x| m.max(x.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= atol * scale, "{what}[{i}]: minilm {g}, PyTorch {w}");
    }
}

fn windows(case: &Case) -> Tensor {
    Tensor::new(case.input_ids.clone(), &Device::Cpu).unwrap()
}

/// The golden model with the case's adapters merged in (float64 when asked: the autograd path).
fn merged_model(case: &Case, lora: &LoraCase, dtype: DType) -> (Llama, Adapters) {
    let base = model(case);
    let adapters = adapters(case, lora, &lora.adapters);
    let params = base.params.to_dtype(dtype).unwrap();
    adapters.merge_into(&params).unwrap();
    (Llama::new(case.config.clone(), params, &Device::Cpu).unwrap(), adapters)
}

#[test]
fn merged_adapters_give_the_logits_of_pytorchs_unmerged_lora_layers() {
    for (case, lora) in lora_golden() {
        let (model, _) = merged_model(&case, &lora, DType::F32);
        let t = case.input_ids[0].len() - 1;
        let logits = model.forward(&windows(&case).narrow(1, 0, t).unwrap()).unwrap();
        assert_eq!(logits.dims(), lora.logits.shape.as_slice());
        assert_close(&format!("{} logits", case.name), &values(&logits), &lora.logits.data, 1e-5);
        // The adapters are not a no-op: the base's logits are far from these.
        let base = model_logits_difference(&case, &lora);
        assert!(base > 1e-2, "{}: the adapters changed the logits by only {base}", case.name);
    }
}

fn model_logits_difference(case: &Case, lora: &LoraCase) -> f32 {
    let t = case.input_ids[0].len() - 1;
    let logits = values(&model(case).forward(&windows(case).narrow(1, 0, t).unwrap()).unwrap());
    logits.iter().zip(&lora.logits.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

#[test]
fn adapter_gradients_read_off_the_merged_weights_match_pytorch_on_both_paths() {
    for (case, lora) in lora_golden() {
        for (dtype, path) in [(DType::F32, "by hand, fused float32"), (DType::F64, "autograd, composite float64")] {
            let (model, adapters) = merged_model(&case, &lora, dtype);
            let (loss, grads) = model.loss_and_grads(&windows(&case), 1.0).unwrap();
            let loss = loss.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
            assert!((loss - lora.loss).abs() < 1e-5, "{} ({path}): loss {loss}, PyTorch {}", case.name, lora.loss);
            let adapter_grads = adapters.gradients(&grads).unwrap();
            assert_eq!(adapter_grads.len(), lora.grads.len());
            for ((name, _), grad) in adapters.params.iter().zip(&adapter_grads) {
                assert_close(&format!("{} ({path}) grad {name}", case.name), &values(grad), &lora.grads[name].data, 1e-5);
            }
        }
    }
}

#[test]
fn three_clipped_adamw_steps_over_the_adapters_alone_match_pytorch() {
    for (case, lora) in lora_golden() {
        let (model, adapters) = merged_model(&case, &lora, DType::F32);
        let base_model = support::model(&case);
        let base = adapters.base_of(&base_model.params).unwrap();
        let run = &lora.adamw;
        let config = AdamWConfig { weight_decay: run.weight_decay, betas: run.betas, eps: run.eps };
        let mut optimizer = AdamW::new(config, &adapters.params).unwrap();
        for (step, (want_loss, want_norm)) in run.losses.iter().zip(&run.grad_norms).enumerate() {
            let (loss, grads) = model.loss_and_grads(&windows(&case), 1.0).unwrap();
            let loss = loss.to_scalar::<f32>().unwrap() as f64;
            assert!((loss - want_loss).abs() < 1e-5, "{} step {step}: loss {loss}, PyTorch {want_loss}", case.name);
            let mut grads = adapters.gradients(&grads).unwrap();
            let norm = clip_grad_norm(&mut grads, run.max_norm).unwrap();
            assert!((norm - want_norm).abs() < 1e-4 * want_norm, "{} step {step}: grad norm {norm}, PyTorch {want_norm}", case.name);
            optimizer.step(&adapters.params, &grads, run.lr).unwrap();
            adapters.write_merged(&model.params, &base).unwrap();
        }
        for (name, value) in adapters.params.iter() {
            assert_close(&format!("{} {name} after 3 steps", case.name), &values(value), &run.final_adapters[name].data, 2e-5);
        }
        // The weights left untargeted never moved.
        for ((name, got), (_, want)) in model.params.iter().zip(base_model.params.iter()) {
            if !name.contains("qkv") && !name.contains("mlp") && !name.contains("proj") && name != "lm_head.weight" {
                assert_eq!(values(got), values(want), "{}: {name} changed", case.name);
            }
        }
    }
}

#[test]
fn a_lora_folder_merges_onto_its_own_base_only() {
    let (case, lora) = lora_golden().into_iter().next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base_model = model(&case);
    let base_file = dir.path().join("base.safetensors");
    base_model.params.save(&base_file).unwrap();
    let digest = base_model.params.digest().unwrap();
    let adapter_dir = dir.path().join("lora");
    std::fs::create_dir(&adapter_dir).unwrap();
    adapters(&case, &lora, &lora.adapters).save(&adapter_dir, &BaseWeights { dir: dir.path().to_path_buf(), digest }).unwrap();
    let size = std::fs::metadata(adapter_dir.join("lora.safetensors")).unwrap().len();
    let full = std::fs::metadata(&base_file).unwrap().len();
    assert!(size < full / 2, "the adapters' file ({size} bytes) should be far smaller than the model's ({full})");

    let load = |adapters: &[PathBuf]| load_adapted_weights(WeightsFormat::Minilm, &case.config, &base_file, adapters, &Device::Cpu);
    let merged = load(std::slice::from_ref(&adapter_dir)).unwrap();
    let (expected, _) = merged_model(&case, &lora, DType::F32);
    assert_eq!(values(merged.flat().as_tensor()), values(expected.params.flat().as_tensor()));

    // Onto other weights (here: already merged), the folder is refused with its name and why.
    let error = merge_adapter_folder(&merged, &case.config, &adapter_dir).err().unwrap().to_string();
    assert!(error.contains("lora.json") && error.contains("trained on other weights"), "{error}");
}
