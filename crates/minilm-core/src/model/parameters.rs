//! The model's weights by litgpt's tensor names: initialisation, and safetensors files that other
//! tools can read (tied embeddings are stored once, as transformer.wte.weight).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};

use super::config::{Init, ModelConfig};
use crate::error::{Error, Result};
use crate::util::SplitMix64;

pub struct Parameters {
    /// In litgpt's state-dict order, so that iteration (and the optimizer) is deterministic.
    entries: Vec<(String, Var)>,
}

impl Parameters {
    /// litgpt's initialisation for training from scratch, drawn from a generator seeded by `seed`
    /// and the tensor's name, so each tensor's values do not depend on the others.
    pub fn init(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let mut entries = Vec::new();
        for spec in config.parameter_specs() {
            let count: usize = spec.shape.iter().product();
            let values: Vec<f32> = match spec.init {
                Init::Ones => vec![1.0; count],
                Init::Normal { std } => {
                    let mut rng = SplitMix64::new(seed ^ crate::util::stable_hash(spec.name.as_bytes()));
                    (0..count).map(|_| (rng.next_normal() * std) as f32).collect()
                }
            };
            let tensor = Tensor::from_vec(values, spec.shape.as_slice(), device)?;
            entries.push((spec.name, Var::from_tensor(&tensor)?));
        }
        Ok(Parameters { entries })
    }

    /// Builds the parameters from named tensors (a checkpoint), checking that every expected tensor
    /// is there with its shape. `source` names where they came from, for messages.
    pub fn from_tensors(config: &ModelConfig, mut tensors: HashMap<String, Tensor>, source: &Path, device: &Device) -> Result<Self> {
        let mut entries = Vec::new();
        for spec in config.parameter_specs() {
            let tensor = tensors.remove(&spec.name).ok_or_else(|| {
                Error::input(source, None, format!("has no tensor {}; expected the weights of a model with this config", spec.name))
            })?;
            if tensor.dims() != spec.shape.as_slice() {
                return Err(Error::input(
                    source,
                    None,
                    format!("tensor {} has shape {:?}; the config expects {:?}", spec.name, tensor.dims(), spec.shape),
                ));
            }
            let tensor = tensor.to_dtype(DType::F32)?.to_device(device)?;
            entries.push((spec.name, Var::from_tensor(&tensor)?));
        }
        // A tied model's file may also carry lm_head.weight (litgpt's state dict does): it is wte.
        tensors.remove("lm_head.weight");
        if let Some(extra) = tensors.keys().min() {
            return Err(Error::input(
                source,
                None,
                format!("has a tensor {extra} that this model config does not have; is it the checkpoint of another model?"),
            ));
        }
        Ok(Parameters { entries })
    }

    /// Parameters from named tensors as they are, in this order (for tests and the kernel check).
    pub fn from_named(entries: Vec<(String, Tensor)>) -> Result<Self> {
        let entries = entries.into_iter().map(|(name, t)| Ok((name, Var::from_tensor(&t)?))).collect::<Result<_>>()?;
        Ok(Parameters { entries })
    }

    pub fn load(config: &ModelConfig, path: &Path, device: &Device) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, device)
            .map_err(|e| Error::input(path, None, format!("cannot read these weights ({e}); expected a safetensors file")))?;
        Self::from_tensors(config, tensors, path, device)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors: HashMap<String, Tensor> = self.entries.iter().map(|(name, var)| (name.clone(), var.as_tensor().clone())).collect();
        candle_core::safetensors::save(&tensors, path).map_err(|e| Error::input(path, None, format!("cannot write the weights: {e}")))
    }

    /// The same values in another dtype (fresh variables).
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        let entries = self
            .entries
            .iter()
            .map(|(name, var)| Ok((name.clone(), Var::from_tensor(&var.as_tensor().to_dtype(dtype)?)?)))
            .collect::<Result<_>>()?;
        Ok(Parameters { entries })
    }

    pub fn get(&self, name: &str) -> &Tensor {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_tensor())
            .unwrap_or_else(|| panic!("no parameter {name}: the model and its config disagree"))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
