//! The ways a model folder names its weights, and loading each as minilm's parameters.

use std::path::Path;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::{hf, ModelConfig, Parameters};
use crate::error::Result;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightsFormat {
    /// litgpt's names in model.safetensors, as `minilm pretrain` saves them.
    #[default]
    Minilm,
    /// Hugging Face LlamaForCausalLM's names, as `minilm export --format hf` writes them.
    Hf,
}

pub fn load_weights(format: WeightsFormat, config: &ModelConfig, path: &Path, device: &Device) -> Result<Parameters> {
    match format {
        WeightsFormat::Minilm => Parameters::load(config, path, device),
        WeightsFormat::Hf => hf::load_hf_weights(config, path, device),
    }
}
