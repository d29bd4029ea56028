//! The model's weights by litgpt's tensor names: initialisation, and safetensors files that other
//! tools can read (tied embeddings are stored once, as transformer.wte.weight).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};

use super::config::{Init, ModelConfig};
use crate::error::{Error, Result};
use crate::util::SplitMix64;

/// The weights, back to back in one contiguous buffer (litgpt's state-dict order), each parameter a view
/// into it. One buffer is what the optimizer updates in one pass, what the gradient norm reads in one
/// pass, and what a data-parallel all-reduce will send in one call; the views are what the model reads
/// and autograd differentiates. Files keep one tensor per name, so checkpoints from before the flat
/// layout load as they are.
pub struct Parameters {
    flat: Var,
    /// In litgpt's state-dict order, so that iteration (and the optimizer) is deterministic.
    entries: Vec<Entry>,
}

struct Entry {
    name: String,
    /// Where the parameter starts in the flat buffer, in elements.
    offset: usize,
    view: Tensor,
}

/// Where each parameter lives in a flat buffer of the parameters' layout: (name, offset, shape).
pub type FlatLayout<'a> = Vec<(&'a str, usize, &'a [usize])>;

impl Parameters {
    /// litgpt's initialisation for training from scratch, drawn from a generator seeded by `seed`
    /// and the tensor's name, so each tensor's values do not depend on the others.
    pub fn init(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let mut named = Vec::new();
        for spec in config.parameter_specs() {
            let count: usize = spec.shape.iter().product();
            let values: Vec<f32> = match spec.init {
                Init::Ones => vec![1.0; count],
                Init::Normal { std } => {
                    let mut rng = SplitMix64::new(seed ^ crate::util::stable_hash(spec.name.as_bytes()));
                    (0..count).map(|_| (rng.next_normal() * std) as f32).collect()
                }
            };
            named.push((spec.name, Tensor::from_vec(values, spec.shape.as_slice(), device)?));
        }
        Self::from_named(named)
    }

    /// Builds the parameters from named tensors (a checkpoint), checking that every expected tensor
    /// is there with its shape. `source` names where they came from, for messages.
    pub fn from_tensors(config: &ModelConfig, mut tensors: HashMap<String, Tensor>, source: &Path, device: &Device) -> Result<Self> {
        let mut named = Vec::new();
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
            named.push((spec.name, tensor.to_dtype(DType::F32)?.to_device(device)?));
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
        Self::from_named(named)
    }

    /// Parameters from named tensors as they are (one dtype, one device), in this order, copied into
    /// one flat buffer.
    pub fn from_named(named: Vec<(String, Tensor)>) -> Result<Self> {
        let pieces = named.iter().map(|(_, t)| t.flatten_all()).collect::<candle_core::Result<Vec<_>>>()?;
        let flat = Var::from_tensor(&Tensor::cat(&pieces, 0)?)?;
        let mut entries = Vec::with_capacity(named.len());
        let mut offset = 0;
        for (name, tensor) in named {
            let count = tensor.elem_count();
            let view = flat.as_tensor().narrow(0, offset, count)?.reshape(tensor.shape())?;
            entries.push(Entry { name, offset, view });
            offset += count;
        }
        Ok(Parameters { flat, entries })
    }

    /// The same values as separate variables, one per parameter (copies), for candle's autograd: it
    /// keeps gradients for variables only, and differentiating the views would build a gradient of the
    /// whole flat buffer for every parameter (narrow's backward pads with zeros). The flat buffer is
    /// shared, unused by these.
    pub fn separate_variables(&self) -> Result<Self> {
        let entries = self
            .entries
            .iter()
            .map(|e| Ok(Entry { name: e.name.clone(), offset: e.offset, view: Var::from_tensor(&e.view)?.as_tensor().clone() }))
            .collect::<Result<_>>()?;
        Ok(Parameters { flat: self.flat.clone(), entries })
    }

    /// The buffer every parameter is a view into.
    pub fn flat(&self) -> &Var {
        &self.flat
    }

    /// Each parameter's place in the flat buffer, for buffers laid out alike (gradients, moments).
    pub fn layout(&self) -> FlatLayout<'_> {
        self.entries.iter().map(|e| (e.name.as_str(), e.offset, e.view.dims())).collect()
    }

    pub fn load(config: &ModelConfig, path: &Path, device: &Device) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, device)
            .map_err(|e| Error::input(path, None, format!("cannot read these weights ({e}); expected a safetensors file")))?;
        Self::from_tensors(config, tensors, path, device)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors: HashMap<String, Tensor> = self.iter().map(|(name, view)| (name.to_string(), view.clone())).collect();
        candle_core::safetensors::save(&tensors, path).map_err(|e| Error::input(path, None, format!("cannot write the weights: {e}")))
    }

    /// The same values in another dtype (a fresh buffer).
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        Self::from_named(self.iter().map(|(name, view)| Ok((name.to_string(), view.to_dtype(dtype)?))).collect::<Result<_>>()?)
    }

    /// A digest of the values (as float32), for telling whether two sets of weights are the same: what
    /// LoRA adapters were trained on, what DPO's cached reference log-probabilities came from.
    pub fn digest(&self) -> Result<String> {
        let values = self.flat.as_tensor().to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(format!("{:016x}", crate::util::stable_hash(&bytes)))
    }

    pub fn get(&self, name: &str) -> &Tensor {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| &e.view)
            .unwrap_or_else(|| panic!("no parameter {name}: the model and its config disagree"))
    }

    /// (name, view) in the flat buffer's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|e| (e.name.as_str(), &e.view))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
