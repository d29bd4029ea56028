//! LoRA adapters (Hu et al., 2021), as litgpt and peft define them: an adapted linear layer with weight
//! W (out, in) computes x Wᵀ + s · x Aᵀ Bᵀ, s = alpha / r, where A (r, in) and B (out, r) are the only
//! trained values. B starts at zero, so training starts from the base model. Adapters take litgpt's
//! names (transformer.h.0.attn.qkv.lora_A) and are saved alone, with lora.json naming their base.
//!
//! minilm runs an adapted model with merged weights, W + s · B A, written into the model's flat buffer,
//! so generation, evaluation and export see an ordinary model. Training does the same each step and reads
//! the adapters' gradients off the merged weight's gradient G by the chain rule (exact):
//! dA = s · Bᵀ G and dB = s · G Aᵀ. The backward pass therefore still forms G: LoRA here saves the
//! optimizer's state, the gradient buffer and the checkpoint's size, not compute. Dropout on the
//! adapters' input needs the unmerged path and is not supported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelConfig, Parameters};
use crate::error::{Error, Result};
use crate::util::{stable_hash, write_atomically, SplitMix64};

/// A LoRA checkpoint's files: the adapters' tensors, and what they are and which base they fit.
pub const ADAPTER_FILE: &str = "lora.safetensors";
pub const ADAPTER_CONFIG_FILE: &str = "lora.json";
const ADAPTER_FORMAT: &str = "minilm-lora-1";

/// Which linear layers get adapters (litgpt's lora_query / key / value together as qkv, lora_projection,
/// lora_mlp, lora_head).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoraTarget {
    /// Attention's fused query / key / value projection.
    Qkv,
    /// Attention's output projection.
    Proj,
    /// The MLP's fc_1, fc_2 and proj.
    Mlp,
    /// lm_head (untied models only: a tied head is the embedding).
    Head,
}

impl LoraTarget {
    /// The target a parameter belongs to, if any.
    fn of(name: &str) -> Option<Self> {
        if name.ends_with(".attn.qkv.weight") {
            Some(Self::Qkv)
        } else if name.ends_with(".attn.proj.weight") {
            Some(Self::Proj)
        } else if name.ends_with(".mlp.fc_1.weight") || name.ends_with(".mlp.fc_2.weight") || name.ends_with(".mlp.proj.weight") {
            Some(Self::Mlp)
        } else if name == "lm_head.weight" {
            Some(Self::Head)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    pub r: usize,
    pub alpha: f64,
    pub targets: Vec<LoraTarget>,
}

impl LoraConfig {
    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }

    pub fn validate(&self, model: &ModelConfig) -> Result<()> {
        if self.r == 0 {
            return Err(Error::usage("lora r must be at least 1"));
        }
        if self.targets.is_empty() {
            return Err(Error::usage("lora targets is empty: name at least one of qkv, proj, mlp, head"));
        }
        if self.targets.contains(&LoraTarget::Head) && model.tie_embeddings {
            return Err(Error::usage(
                "lora target head needs an untied lm_head: this model ties it to the embedding, which the adapter would change too",
            ));
        }
        Ok(())
    }

    /// The adapted weights' indices in the model's parameter order, with their names and shapes (out, in).
    fn adapted(&self, model: &ModelConfig) -> Vec<(usize, String, Vec<usize>)> {
        model
            .parameter_specs()
            .into_iter()
            .enumerate()
            .filter(|(_, spec)| LoraTarget::of(&spec.name).is_some_and(|t| self.targets.contains(&t)))
            .map(|(index, spec)| (index, spec.name, spec.shape))
            .collect()
    }
}

/// The weights an adapter folder was trained on: their folder, and the digest of their values
/// (Parameters::digest) that a changed base would not match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaseWeights {
    pub dir: PathBuf,
    pub digest: String,
}

/// lora.json.
#[derive(Serialize, Deserialize)]
struct AdapterFileConfig {
    format: String,
    #[serde(flatten)]
    lora: LoraConfig,
    base: BaseWeights,
}

pub struct Adapters {
    pub config: LoraConfig,
    /// lora_A and lora_B of each adapted weight, in the model's parameter order, float32 whatever the
    /// model's precision: what the optimizer trains.
    pub params: Parameters,
    /// The adapted weights: (index in the model's parameters, name).
    adapted: Vec<(usize, String)>,
}

fn adapter_names(weight: &str) -> (String, String) {
    let module = weight.trim_end_matches(".weight");
    (format!("{module}.lora_A"), format!("{module}.lora_B"))
}

impl Adapters {
    /// Fresh adapters: A as torch's kaiming_uniform_(a = sqrt(5)) draws it (uniform within 1 / sqrt(in),
    /// as litgpt and peft initialise it), from a generator seeded by `seed` and the name; B zero.
    pub fn init(config: &LoraConfig, model: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        config.validate(model)?;
        let mut named = Vec::new();
        for (_, weight, shape) in config.adapted(model) {
            let (out, inputs) = (shape[0], shape[1]);
            let (a, b) = adapter_names(&weight);
            let bound = 1.0 / (inputs as f64).sqrt();
            let mut rng = SplitMix64::new(seed ^ stable_hash(a.as_bytes()));
            let values: Vec<f32> = (0..config.r * inputs).map(|_| ((2.0 * rng.next_f64() - 1.0) * bound) as f32).collect();
            named.push((a, Tensor::from_vec(values, (config.r, inputs), device)?));
            named.push((b, Tensor::zeros((out, config.r), DType::F32, device)?));
        }
        Self::from_named(config, model, named)
    }

    /// Adapters from named tensors (a file), checking that each expected one is there with its shape.
    pub fn from_tensors(config: &LoraConfig, model: &ModelConfig, mut tensors: HashMap<String, Tensor>, source: &Path) -> Result<Self> {
        config.validate(model)?;
        let mut named = Vec::new();
        for (_, weight, shape) in config.adapted(model) {
            let (a, b) = adapter_names(&weight);
            for (name, expected) in [(a, [config.r, shape[1]]), (b, [shape[0], config.r])] {
                let tensor = tensors.remove(&name).ok_or_else(|| {
                    Error::input(source, None, format!("has no tensor {name}; expected rank-{} adapters for this model", config.r))
                })?;
                if tensor.dims() != expected {
                    return Err(Error::input(source, None, format!("tensor {name} has shape {:?}; expected {expected:?}", tensor.dims())));
                }
                named.push((name, tensor.to_dtype(DType::F32)?));
            }
        }
        if let Some(extra) = tensors.keys().min() {
            return Err(Error::input(source, None, format!("has a tensor {extra} that these adapters' targets do not have")));
        }
        Self::from_named(config, model, named)
    }

    fn from_named(config: &LoraConfig, model: &ModelConfig, named: Vec<(String, Tensor)>) -> Result<Self> {
        let adapted = config.adapted(model).into_iter().map(|(index, name, _)| (index, name)).collect();
        Ok(Adapters { config: config.clone(), params: Parameters::from_named(named)?, adapted })
    }

    /// s · B A for the i-th adapted weight, float32.
    fn delta(&self, i: usize) -> Result<Tensor> {
        let (a, b) = adapter_names(&self.adapted[i].1);
        Ok((self.params.get(&b).matmul(self.params.get(&a))? * self.config.scale())?)
    }

    /// Copies of the adapted weights of `params` as they are now: the base that `write_merged` adds to.
    pub fn base_of(&self, params: &Parameters) -> Result<Vec<Tensor>> {
        // force_contiguous copies the view alone; copy() would clone the whole flat buffer behind it.
        self.adapted.iter().map(|(_, name)| Ok(params.get(name).force_contiguous()?)).collect()
    }

    /// Writes base + s · B A into each adapted weight of `params` (in their dtype), `base` being
    /// `base_of`'s copies.
    pub fn write_merged(&self, params: &Parameters, base: &[Tensor]) -> Result<()> {
        let layout = params.layout();
        let flat = params.flat().as_tensor();
        for (i, ((index, _), base)) in self.adapted.iter().zip(base).enumerate() {
            let merged = (base.to_dtype(DType::F32)? + self.delta(i)?)?.to_dtype(flat.dtype())?;
            flat.slice_set(&merged.flatten_all()?, 0, layout[*index].1)?;
        }
        Ok(())
    }

    /// Adds the adapters to `params` for good (loading an adapted checkpoint).
    pub fn merge_into(&self, params: &Parameters) -> Result<()> {
        self.write_merged(params, &self.base_of(params)?)
    }

    /// The adapters' gradients (in `params` order) from the gradients of the whole model's parameters,
    /// taken at the merged weights: dA = s · Bᵀ G, dB = s · G Aᵀ.
    pub fn gradients(&self, model_grads: &[Tensor]) -> Result<Vec<Tensor>> {
        let s = self.config.scale();
        let mut grads = Vec::with_capacity(2 * self.adapted.len());
        for (index, name) in &self.adapted {
            let (a, b) = adapter_names(name);
            let g = model_grads[*index].to_dtype(DType::F32)?;
            grads.push((self.params.get(&b).t()?.matmul(&g)? * s)?);
            grads.push((g.matmul(&self.params.get(&a).t()?)? * s)?);
        }
        Ok(grads)
    }

    /// Trained values (A and B).
    pub fn len(&self) -> usize {
        self.params.flat().elem_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes lora.safetensors and lora.json into `dir`.
    pub fn save(&self, dir: &Path, base: &BaseWeights) -> Result<()> {
        self.params.save(&dir.join(ADAPTER_FILE))?;
        let config = AdapterFileConfig { format: ADAPTER_FORMAT.into(), lora: self.config.clone(), base: base.clone() };
        let bytes = serde_json::to_vec_pretty(&config).map_err(|e| Error::internal(format!("{ADAPTER_CONFIG_FILE}: {e}")))?;
        write_atomically(&dir.join(ADAPTER_CONFIG_FILE), &[&bytes])
    }

    /// Reads the adapters `save` wrote into `dir`, and the base they were trained on.
    pub fn load(dir: &Path, model: &ModelConfig, device: &Device) -> Result<(Self, BaseWeights)> {
        let config_path = dir.join(ADAPTER_CONFIG_FILE);
        let bytes = std::fs::read(&config_path)
            .map_err(|e| Error::input(&config_path, None, format!("cannot read it ({e}); expected the lora.json of a LoRA checkpoint")))?;
        let config: AdapterFileConfig = serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(&config_path, None, format!("is not a {ADAPTER_FORMAT} adapter description ({e})")))?;
        if config.format != ADAPTER_FORMAT {
            return Err(Error::input(&config_path, None, format!("is a {} file; this minilm reads {ADAPTER_FORMAT}", config.format)));
        }
        let path = dir.join(ADAPTER_FILE);
        let tensors = candle_core::safetensors::load(&path, device)
            .map_err(|e| Error::input(&path, None, format!("cannot read these adapters ({e}); expected a safetensors file")))?;
        Ok((Self::from_tensors(&config.lora, model, tensors, &path)?, config.base))
    }
}

/// Merges the adapters in `dir` into `params`, which must be the weights they were trained on.
pub fn merge_adapter_folder(params: &Parameters, model: &ModelConfig, dir: &Path) -> Result<()> {
    let (adapters, base) = Adapters::load(dir, model, params.flat().device())?;
    let digest = params.digest()?;
    if digest != base.digest {
        return Err(Error::input(
            &dir.join(ADAPTER_CONFIG_FILE),
            None,
            format!(
                "these adapters were trained on other weights than {} holds now (digest {}, now {digest}); \
                 LoRA adapters fit only the base they were trained on",
                base.dir.display(),
                base.digest
            ),
        ));
    }
    adapters.merge_into(params)
}
