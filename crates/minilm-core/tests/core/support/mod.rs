//! What the test modules share: the tiny golden models of tests/golden/tiny_llama.json
//! (scripts/reference/make_model_golden.py), the test corpora, the shared tokenizers and prepare runs.

pub mod corpus;
pub mod prepare_runs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use minilm_core::model::{Llama, ModelConfig, Parameters};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Golden {
    pub cases: Vec<Case>,
}

#[derive(Deserialize)]
pub struct Case {
    pub name: String,
    pub config: ModelConfig,
    pub input_ids: Vec<Vec<u32>>,
    pub weights: HashMap<String, Array>,
    pub logits: Array,
    pub loss: f64,
    pub grads: HashMap<String, Array>,
    pub adamw: AdamWRun,
}

#[derive(Deserialize)]
pub struct AdamWRun {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub max_norm: f64,
    pub losses: Vec<f64>,
    pub grad_norms: Vec<f64>,
    pub final_weights: HashMap<String, Array>,
}

#[derive(Deserialize)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub fn golden() -> Golden {
    let path = crate_dir().join("tests/golden/tiny_llama.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub fn tensors(arrays: &HashMap<String, Array>) -> HashMap<String, Tensor> {
    arrays.iter().map(|(name, a)| (name.clone(), Tensor::from_vec(a.data.clone(), a.shape.as_slice(), &Device::Cpu).unwrap())).collect()
}

pub fn model(case: &Case) -> Llama {
    let params = Parameters::from_tensors(&case.config, tensors(&case.weights), Path::new("golden"), &Device::Cpu).unwrap();
    Llama::new(case.config.clone(), params, &Device::Cpu).unwrap()
}

/// minilm-core's folder, as cargo test gives it when the test runs. A test binary built in another
/// checkout of the same sources (a shared CARGO_TARGET_DIR, as .ci/run's clones use) is reused by cargo,
/// and `env!` would still name that checkout, which may be gone.
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// The repository's root (node_modules, test/golden and the shared folder beside it are found from here).
pub fn repo_root() -> PathBuf {
    crate_dir().join("../..")
}

/// A reference tokenizer of the shared folder (`MINILM_SHARED_DIR`, else ../shared beside the repository,
/// else /work/shared): tokenizers/NAME.
pub fn shared_tokenizer(name: &str) -> PathBuf {
    let candidates =
        [std::env::var_os("MINILM_SHARED_DIR").map(PathBuf::from), Some(repo_root().join("../shared")), Some("/work/shared".into())];
    candidates
        .iter()
        .flatten()
        .map(|dir| dir.join("tokenizers").join(name))
        .find(|dir| dir.join("tokenizer.json").exists())
        .unwrap_or_else(|| panic!("cannot find tokenizers/{name} in the shared folder; set MINILM_SHARED_DIR"))
}
