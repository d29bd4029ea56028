//! The ways a model folder names its weights, and loading each as minilm's parameters.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::{hf, lora, ModelConfig, Parameters};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightsFormat {
    /// litgpt's names in model.safetensors, as `minilm pretrain` saves them.
    #[default]
    Minilm,
    /// Hugging Face LlamaForCausalLM's names, as `minilm export --format hf` writes them.
    Hf,
    /// litgpt's lit_model.pth: a PyTorch pickle of the state dict (litgpt's names, minilm's too), or of
    /// a dict holding it under "model", as `litgpt pretrain` and `litgpt finetune` save it.
    Litgpt,
}

pub fn load_weights(format: WeightsFormat, config: &ModelConfig, path: &Path, device: &Device) -> Result<Parameters> {
    match format {
        WeightsFormat::Minilm => Parameters::load(config, path, device),
        WeightsFormat::Hf => hf::load_hf_weights(config, path, device),
        WeightsFormat::Litgpt => load_lit_model(config, path, device),
    }
}

/// A model's weights with LoRA adapters merged in: the base file, then each adapter folder (a LoRA
/// checkpoint) in order, each checked against the weights it was trained on.
pub fn load_adapted_weights(
    format: WeightsFormat,
    config: &ModelConfig,
    path: &Path,
    adapters: &[PathBuf],
    device: &Device,
) -> Result<Parameters> {
    let params = load_weights(format, config, path, device)?;
    for dir in adapters {
        lora::merge_adapter_folder(&params, config, dir)?;
    }
    Ok(params)
}

fn load_lit_model(config: &ModelConfig, path: &Path, device: &Device) -> Result<Parameters> {
    let read = |key: Option<&str>| candle_core::pickle::read_all_with_key(path, key);
    // A training checkpoint holds {"model": state_dict, "optimizer": ...}; a converted one is the state dict.
    let tensors = read(Some("model"))
        .or_else(|_| read(None))
        .map_err(|e| Error::input(path, None, format!("cannot read it as a PyTorch checkpoint ({e}); expected litgpt's lit_model.pth")))?;
    if tensors.is_empty() {
        return Err(Error::input(path, None, "holds no tensors; expected litgpt's lit_model.pth (a model's state dict)"));
    }
    Parameters::from_tensors(config, tensors.into_iter().collect::<HashMap<_, _>>(), path, device)
}
