//! litgpt's GPT for the LLaMA family: pre-norm blocks of grouped-query attention with RoPE and a
//! SwiGLU MLP (LLaMAMLP), a final RMSNorm and the lm_head (or the tied embedding).

use std::collections::HashMap;

use candle_core::{DType, Device, Result as CandleResult, Tensor};

use super::composite;
use super::config::ModelConfig;
use super::fused;
use super::layers::{
    add_rms_norm, batched_matmul, causal_softmax, cross_entropy, linear, merge_heads, rms_norm, split_heads, swiglu, Packing, RopeCache,
};
use super::parameters::Parameters;
use crate::error::{Error, Result};

pub struct Llama {
    pub config: ModelConfig,
    pub params: Parameters,
    rope: RopeCache,
    /// Whether training computes gradients by hand (backprop.rs, with the fused kernels) rather than
    /// with candle's autograd. When it does, the forward pass builds no autograd graph.
    by_hand: bool,
    /// The dtype of activations and matmuls (bf16 under mixed precision); the weights keep theirs.
    compute: DType,
    /// How attention runs on a GPU (fused::AttentionPath says why there are two).
    attention: fused::AttentionPath,
}

/// What one block's forward pass computed that its backward pass needs. (B T, C) shapes unless noted.
pub(crate) struct BlockActivations {
    pub input: Tensor,
    pub h1: Tensor,
    /// (B, G, Q T, D), rotated.
    pub queries: Tensor,
    /// (B, G, T, D), rotated.
    pub keys: Tensor,
    pub values: Tensor,
    /// What attention's backward pass recomputes its probabilities from.
    pub attention: AttentionKept,
    /// The heads' outputs merged, (B T, H D).
    pub y: Tensor,
    pub mid: Tensor,
    pub h2: Tensor,
    /// fc_1 and fc_2 outputs, (B T, I).
    pub gate: Tensor,
    pub up: Tensor,
    pub gated: Tensor,
    pub matmul_weights: MatmulWeights,
}

/// The composite path keeps attention's probabilities (B, G, Q T, T); the flash path only the float32
/// log-sum-exp of each query row (B, G, Q T), and recomputes them.
pub(crate) enum AttentionKept {
    Weights(Tensor),
    LogSumExp(Tensor),
}

/// A block's linear weights as its matmuls used them (bf16 copies under mixed precision), kept so
/// that the backward pass does not cast them again.
pub(crate) struct MatmulWeights {
    pub qkv: Tensor,
    pub attn_proj: Tensor,
    pub fc_1: Tensor,
    pub fc_2: Tensor,
    pub mlp_proj: Tensor,
}

/// Each layer's keys and values for the positions generated so far, so that a new token costs one
/// position of work rather than the whole prefix. The buffers hold block_size positions, (1, G,
/// block_size, D) each, allocated on first use and filled in place.
#[derive(Default)]
pub struct KvCache {
    pub(crate) layers: Vec<(Tensor, Tensor)>,
    pub(crate) len: usize,
}

impl KvCache {
    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// An independent copy (OpenAI's n choices continue one prefill each their own way).
    pub fn deep_copy(&self) -> CandleResult<Self> {
        let layers = self.layers.iter().map(|(k, v)| Ok((k.copy()?, v.copy()?))).collect::<CandleResult<_>>()?;
        Ok(KvCache { layers, len: self.len })
    }
}

/// What attention computed: the rotated queries and keys, the values (all the cached positions' with a
/// cache), the heads' outputs (B, G, Q T, D) and what the backward pass keeps.
pub(crate) struct Attended {
    pub queries: Tensor,
    pub keys: Tensor,
    pub values: Tensor,
    pub heads_out: Tensor,
    pub attention: AttentionKept,
}

/// A whole forward pass's activations, for backprop.rs.
pub(crate) struct Activations {
    pub batch: usize,
    pub blocks: Vec<BlockActivations>,
    /// The last block's output, and after the final norm.
    pub last: Tensor,
    /// After the final norm: the scored rows only when the batch names them.
    pub normed: Tensor,
    /// The rows (of B T) whose logits were computed, when not all of them.
    pub scored: Option<Tensor>,
    /// How the rows packed several sequences, if they did.
    pub packing: Option<Packing>,
    /// lm_head's weight as its matmul used it.
    pub head_weight: Tensor,
    pub logits: Tensor,
}

impl Llama {
    pub fn new(config: ModelConfig, params: Parameters, device: &Device) -> Result<Self> {
        config.validate()?;
        let rope = RopeCache::new(config.rope_n_elem(), config.rope_base, config.block_size, device)?;
        let compute = params.get("transformer.wte.weight").dtype();
        let mut model = Llama { config, params, rope, by_hand: false, compute, attention: fused::AttentionPath::default() };
        model.by_hand = model.can_backprop_by_hand();
        Ok(model)
    }

    /// Runs activations and matmuls in `dtype` (bf16-mixed: bf16 over float32 weights). Norms,
    /// softmax, RoPE and the loss still compute in float32.
    pub fn with_compute_dtype(mut self, dtype: DType) -> Self {
        self.compute = dtype;
        self.by_hand = self.can_backprop_by_hand();
        self
    }

    pub fn compute_dtype(&self) -> DType {
        self.compute
    }

    /// Runs attention on a GPU by `path` (the composite path unless told otherwise).
    pub fn with_attention(mut self, path: fused::AttentionPath) -> Self {
        self.attention = path;
        self
    }

    // backprop.rs needs float32 master weights and fused kernels for the compute dtype on this device
    // (float32 on the CPU; float32 or bfloat16 on a GPU). bf16-true's bfloat16 weights take autograd.
    fn can_backprop_by_hand(&self) -> bool {
        fused::supported_weight(self.params.get("transformer.wte.weight")) && fused::supports(self.device(), self.compute)
    }

    pub fn device(&self) -> &Device {
        self.params.get("transformer.wte.weight").device()
    }

    pub fn init(config: ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        config.validate()?;
        let params = Parameters::init(&config, seed, device)?;
        Self::new(config, params, device)
    }

    /// Logits (B, T, V) for token ids (B, T).
    pub fn forward(&self, ids: &Tensor) -> CandleResult<Tensor> {
        let (b, t) = ids.dims2()?;
        self.run(ids, false, None, None, None)?.logits.reshape((b, t, self.config.padded_vocab_size))
    }

    /// Logits (T, V) for the next T token ids (1, T) of one sequence whose earlier positions are in
    /// `cache`, which then holds these too.
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut KvCache) -> CandleResult<Tensor> {
        let (batch, t) = ids.dims2()?;
        let c = &self.config;
        if batch != 1 || cache.len + t > c.block_size {
            candle_core::bail!("forward_cached takes one sequence of at most block_size ({}) positions", c.block_size);
        }
        if cache.layers.is_empty() {
            let device = self.params.get("transformer.wte.weight").device();
            let shape = (1, c.n_query_groups, c.block_size, c.head_size);
            for _ in 0..c.n_layer {
                cache.layers.push((Tensor::zeros(shape, self.compute, device)?, Tensor::zeros(shape, self.compute, device)?));
            }
        }
        let logits = self.run(ids, false, Some(cache), None, None)?.logits;
        cache.len += t;
        Ok(logits)
    }

    /// Mean cross-entropy of the next token: `windows` (B, T + 1) as litgpt's data loader gives them,
    /// on any device (moved to the model's).
    pub fn loss(&self, windows: &Tensor) -> CandleResult<Tensor> {
        self.batch_loss(&TokenBatch::from_windows(windows)?)
    }

    /// The mean loss of `batch`'s scored targets.
    pub fn batch_loss(&self, batch: &TokenBatch) -> CandleResult<Tensor> {
        let scored = batch.scored.as_ref().map(|rows| rows.to_device(self.device())).transpose()?;
        let logits = self.run(&batch.inputs.to_device(self.device())?, false, None, scored.as_ref(), batch.packing.as_ref())?.logits;
        cross_entropy(&logits, &batch.scored_targets(self.device())?)
    }

    /// The negative log-likelihood of each of `batch`'s scored targets, in float32 on the host and in
    /// order: what evaluation sums (bits per byte leaves some targets out), where training needs the mean.
    pub fn target_nll(&self, batch: &TokenBatch) -> Result<Vec<f32>> {
        let scored = batch.scored.as_ref().map(|rows| rows.to_device(self.device())).transpose()?;
        let logits = self.run(&batch.inputs.to_device(self.device())?, false, None, scored.as_ref(), batch.packing.as_ref())?.logits;
        let nll = token_nll(&logits.to_dtype(DType::F32)?, &batch.scored_targets(self.device())?)?;
        Ok(nll.to_device(&Device::Cpu)?.to_vec1::<f32>()?)
    }

    /// `batch_loss` over windows, with gradients: see `batch_loss_and_grads`.
    pub fn loss_and_grads(&self, windows: &Tensor, d_loss: f64) -> Result<(Tensor, Vec<Tensor>)> {
        self.batch_loss_and_grads(&TokenBatch::from_windows(windows)?, d_loss)
    }

    /// The mean loss of `batch` (a scalar tensor on the model's device, float32 or wider, so that a
    /// training step reads it back once, not per micro-batch) and the gradient of `d_loss` times it for every
    /// parameter, in the parameters' order and dtype. The batch may live on any device: the trainer
    /// passes it on the host, where the embedding's backward reads the token ids without waiting for
    /// the GPU.
    pub fn batch_loss_and_grads(&self, batch: &TokenBatch, d_loss: f64) -> Result<(Tensor, Vec<Tensor>)> {
        let mut grads = HashMap::new();
        let loss = self.batch_loss_and_grads_into(batch, d_loss, &mut collect_gradients(&mut grads))?;
        Ok((loss, self.in_parameter_order(grads)))
    }

    /// `batch_loss_and_grads`, each gradient handed to `sink` as soon as the backward pass has it.
    pub fn batch_loss_and_grads_into(&self, batch: &TokenBatch, d_loss: f64, sink: &mut GradientSink) -> Result<Tensor> {
        let inputs = batch.inputs.to_device(self.device())?;
        let targets = batch.scored_targets(self.device())?;
        let scored = batch.scored.as_ref().map(|rows| rows.to_device(self.device())).transpose()?;
        if self.by_hand {
            let activations = self.run(&inputs, true, None, scored.as_ref(), batch.packing.as_ref())?;
            let (loss, d_logits) = fused::cross_entropy_with_grad(&activations.logits, &targets, d_loss)?;
            let input_ids = batch.inputs.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<u32>()?;
            self.backprop(&activations, &d_logits, &input_ids, sink)?;
            return Ok(loss);
        }
        let copy = self.autograd_copy()?;
        let loss = cross_entropy(&copy.run(&inputs, false, None, scored.as_ref(), batch.packing.as_ref())?.logits, &targets)?;
        copy.hand_over(&(&loss * d_loss)?.backward()?, sink)?;
        Ok(loss.detach())
    }

    /// For losses over whole sequences rather than a mean over tokens (DPO): `loss_of` is given the
    /// negative log-likelihood of each of `batch`'s scored targets, in order, and returns the loss and
    /// its gradient with respect to each of them. Returns that loss and the gradient of every parameter,
    /// in the parameters' order and dtype, from one forward and one backward pass.
    pub fn sequence_loss_and_grads(
        &self,
        batch: &TokenBatch,
        loss_of: impl FnOnce(&[f32]) -> Result<(f64, Vec<f32>)>,
    ) -> Result<(f64, Vec<Tensor>)> {
        let mut grads = HashMap::new();
        let loss = self.sequence_loss_and_grads_into(batch, loss_of, &mut collect_gradients(&mut grads))?;
        Ok((loss, self.in_parameter_order(grads)))
    }

    /// `sequence_loss_and_grads`, each gradient handed to `sink` as soon as the backward pass has it.
    pub fn sequence_loss_and_grads_into(
        &self,
        batch: &TokenBatch,
        loss_of: impl FnOnce(&[f32]) -> Result<(f64, Vec<f32>)>,
        sink: &mut GradientSink,
    ) -> Result<f64> {
        let inputs = batch.inputs.to_device(self.device())?;
        let targets = batch.scored_targets(self.device())?;
        let scored = batch.scored.as_ref().map(|rows| rows.to_device(self.device())).transpose()?;
        let packing = batch.packing.as_ref();
        if self.by_hand {
            let activations = self.run(&inputs, true, None, scored.as_ref(), packing)?;
            let logits = activations.logits.to_dtype(DType::F32)?;
            let nll = token_nll(&logits, &targets)?;
            let (loss, d_nll) = loss_of(&nll.to_device(&Device::Cpu)?.to_vec1::<f32>()?)?;
            // d nll / d logits = softmax(logits) - onehot(target), row by row, times each row's weight.
            let weights = Tensor::from_vec(d_nll, (targets.dim(0)?, 1), self.device())?;
            let onehot = logits.zeros_like()?.scatter_add(&targets.unsqueeze(1)?, &weights, 1)?;
            let d_logits = (candle_nn::ops::softmax_last_dim(&logits)?.broadcast_mul(&weights)? - onehot)?;
            let d_logits = d_logits.to_dtype(activations.logits.dtype())?;
            let input_ids = batch.inputs.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<u32>()?;
            self.backprop(&activations, &d_logits, &input_ids, sink)?;
            return Ok(loss);
        }
        let copy = self.autograd_copy()?;
        let logits = copy.run(&inputs, false, None, scored.as_ref(), packing)?.logits;
        let nll = token_nll(&logits.to_dtype(composite::at_least_f32(logits.dtype()))?, &targets)?;
        let (loss, d_nll) = loss_of(&nll.to_dtype(DType::F32)?.to_device(&Device::Cpu)?.to_vec1::<f32>()?)?;
        // The loss as a function of the nll whose gradient is d_nll: sum(nll * d_nll).
        let weights = Tensor::from_vec(d_nll, targets.dim(0)?, self.device())?.to_dtype(nll.dtype())?;
        copy.hand_over(&(nll * weights)?.sum_all()?.backward()?, sink)?;
        Ok(loss)
    }

    /// Autograd's gradients of this copy's parameters, handed to `sink` in the parameters' order.
    fn hand_over(&self, grads: &candle_core::backprop::GradStore, sink: &mut GradientSink) -> Result<()> {
        for (name, view) in self.params.iter() {
            sink(name, grads.get(view).cloned().ok_or_else(|| Error::usage(format!("no gradient reached {name}")))?)?;
        }
        Ok(())
    }

    /// Gradients by name (from `collect_gradients`), in the parameters' order.
    pub fn in_parameter_order(&self, mut grads: HashMap<String, Tensor>) -> Vec<Tensor> {
        self.params.iter().map(|(name, _)| grads.remove(name).expect("the backward pass covers every parameter")).collect()
    }

    /// A copy whose parameters are variables of their own, for candle's autograd (Parameters says why).
    fn autograd_copy(&self) -> Result<Llama> {
        Ok(Llama {
            config: self.config.clone(),
            params: self.params.separate_variables()?,
            rope: self.rope.clone(),
            by_hand: false,
            compute: self.compute,
            attention: self.attention,
        })
    }

    /// A parameter, detached from autograd when gradients are computed by hand.
    pub(crate) fn weight(&self, name: &str) -> Tensor {
        let tensor = self.params.get(name);
        if self.by_hand {
            tensor.detach()
        } else {
            tensor.clone()
        }
    }

    pub(crate) fn layer_weight(&self, layer: usize, name: &str) -> Tensor {
        self.weight(&format!("transformer.h.{layer}.{name}"))
    }

    /// A weight as its matmul uses it: in the compute dtype (a cast that autograd carries back to the
    /// float32 master weight under mixed precision; no copy when the dtypes agree).
    fn for_matmul(&self, weight: Tensor) -> CandleResult<Tensor> {
        weight.to_dtype(self.compute)
    }

    pub(crate) fn lm_head_name(&self) -> &'static str {
        if self.config.tie_embeddings {
            "transformer.wte.weight"
        } else {
            "lm_head.weight"
        }
    }

    /// The forward pass for token ids (B, T); logits are (B T, V). Activations stay two-dimensional,
    /// one row per token. Blocks' activations are kept only when `keep_blocks`. With a `cache` (its
    /// buffers allocated), the tokens come after its positions; the caller advances its length. With
    /// `scored` (row indices of B T), logits are computed for those rows only. With `packing`, each row
    /// holds several sequences, each computed as if alone.
    fn run(
        &self,
        ids: &Tensor,
        keep_blocks: bool,
        cache: Option<&KvCache>,
        scored: Option<&Tensor>,
        packing: Option<&Packing>,
    ) -> CandleResult<Activations> {
        let batch = ids.dim(0)?;
        let ids = ids.flatten_all()?;
        // The lookup reads the float32 table; only the rows taken are cast.
        let mut x = self.weight("transformer.wte.weight").embedding(&ids)?.to_dtype(self.compute)?;
        // Each block's MLP output is added to the residual stream by the norm after it (the next block's
        // norm_1, or ln_f), in the same pass.
        let mut mlp_out: Option<Tensor> = None;
        let mut blocks = Vec::new();
        for layer in 0..self.config.n_layer {
            let block =
                self.block(&x, mlp_out.as_ref(), layer, batch, Context { cache: cache.map(|c| (&c.layers[layer], c.len)), packing })?;
            mlp_out = Some(linear(&block.gated, &block.matmul_weights.mlp_proj)?);
            x = block.mid.clone();
            if keep_blocks {
                blocks.push(block);
            }
        }
        let ln_f = self.weight("transformer.ln_f.weight");
        let (x, mut normed) = match &mlp_out {
            Some(delta) => add_rms_norm(&x, delta, &ln_f, self.config.norm_eps)?,
            None => (x.clone(), rms_norm(&x, &ln_f, self.config.norm_eps)?),
        };
        if let Some(rows) = scored {
            normed = normed.index_select(rows, 0)?;
        }
        let head_weight = self.for_matmul(self.weight(self.lm_head_name()))?;
        let logits = linear(&normed, &head_weight)?;
        Ok(Activations { batch, blocks, last: x, normed, scored: scored.cloned(), packing: packing.cloned(), head_weight, logits })
    }

    /// One block up to its MLP's gated activation, from the residual stream `residual` plus `delta`, the
    /// previous block's MLP output (None for the first block); the caller projects the MLP's output.
    fn block(
        &self,
        residual: &Tensor,
        delta: Option<&Tensor>,
        layer: usize,
        batch: usize,
        context: Context,
    ) -> CandleResult<BlockActivations> {
        let c = &self.config;
        let w = |name: &str| self.layer_weight(layer, name);
        let mw = |name: &str| self.for_matmul(w(name));
        let matmul_weights = MatmulWeights {
            qkv: mw("attn.qkv.weight")?,
            attn_proj: mw("attn.proj.weight")?,
            fc_1: mw("mlp.fc_1.weight")?,
            fc_2: mw("mlp.fc_2.weight")?,
            mlp_proj: mw("mlp.proj.weight")?,
        };
        let (input, h1) = match delta {
            Some(delta) => add_rms_norm(residual, delta, &w("norm_1.weight"), c.norm_eps)?,
            None => (residual.clone(), rms_norm(residual, &w("norm_1.weight"), c.norm_eps)?),
        };

        let qkv = linear(&h1, &matmul_weights.qkv)?; // (B T, (H + 2G) D)
        let Attended { queries, keys, values, heads_out, attention } = self.attend(&qkv, batch, context)?;
        let y = merge_heads(&heads_out, c.n_head)?;
        let (mid, h2) = add_rms_norm(&input, &linear(&y, &matmul_weights.attn_proj)?, &w("norm_2.weight"), c.norm_eps)?;
        let gate = linear(&h2, &matmul_weights.fc_1)?;
        let up = linear(&h2, &matmul_weights.fc_2)?;
        let gated = swiglu(&gate, &up)?;
        Ok(BlockActivations { input, h1, queries, keys, values, attention, y, mid, h2, gate, up, gated, matmul_weights })
    }

    /// Causal grouped-query attention over the fused qkv projection (B T, (H + 2G) D), [Q | K | V] by
    /// heads. The Q query heads of a group are stacked along the rows so that each group's keys and
    /// values are used as they are, never copied per head. `context` says where the tokens are (see
    /// `Context`).
    pub(crate) fn attend(&self, qkv: &Tensor, batch: usize, context: Context) -> CandleResult<Attended> {
        let c = &self.config;
        let (h, g, d) = (c.n_head, c.n_query_groups, c.head_size);
        let t = qkv.dim(0)? / batch;
        let Context { cache, packing } = context;
        let start = cache.map_or(0, |(_, start)| start);
        let rotation = self.rotation(start, packing);
        let queries = split_heads(qkv, batch, 0, h, g, d, Some(&rotation))?; // (B, G, Q T, D)
        let mut keys = split_heads(qkv, batch, h, g, g, d, Some(&rotation))?; // (B, G, T, D)
        let mut values = split_heads(qkv, batch, h + g, g, g, d, None)?;
        if let Some(((key_buffer, value_buffer), _)) = cache {
            key_buffer.slice_set(&keys, 2, start)?;
            value_buffer.slice_set(&values, 2, start)?;
            keys = key_buffer.narrow(2, 0, start + t)?;
            values = value_buffer.narrow(2, 0, start + t)?;
        }
        // The flash kernel takes one sequence per row: a packed batch takes the composite path.
        let (heads_out, attention) = if packing.is_none() && fused::use_flash_attention(self.attention, &queries) {
            let causal = fused::Causal { query_len: t, first_position: start, scale: attention_scale(d) as f32 };
            let (out, lse) = fused::flash_attention(&queries, &keys, &values, causal)?;
            (out, AttentionKept::LogSumExp(lse))
        } else {
            let scores = batched_matmul(&queries, &keys.t()?)?;
            let weights = causal_softmax(&scores, attention_scale(d), t, start, packing)?;
            (batched_matmul(&weights, &values)?, AttentionKept::Weights(weights))
        };
        Ok(Attended { queries, keys, values, heads_out, attention })
    }

    /// RoPE's rotation for tokens after `start` cached positions, or for a packed batch's.
    pub(crate) fn rotation(&self, start: usize, packing: Option<&Packing>) -> fused::Rotation {
        match packing {
            Some(packing) => self.rope.packed_rotation(packing),
            None => self.rope.rotation(start),
        }
    }
}

/// Where a block's tokens are: after a KV cache's positions (its key and value buffers holding
/// `start` positions: the new keys and values are written into them, and attention uses all start + T
/// of them), or packed several sequences to a row, or neither (one sequence per row from position 0).
#[derive(Clone, Copy, Default)]
pub(crate) struct Context<'a> {
    pub cache: Option<(&'a (Tensor, Tensor), usize)>,
    pub packing: Option<&'a Packing>,
}

/// A micro-batch as the loss reads it: token ids (B, T) and the ids each position should predict
/// (B T). Pretraining scores every position; SFT names the positions that predict an assistant's token
/// (the prompt's and the padding's are left out of the loss and of the head's matmul), and packed SFT
/// puts several conversations in a row.
pub struct TokenBatch {
    pub inputs: Tensor,
    pub targets: Tensor,
    /// Row indices (u32) into B T, or None for all.
    pub scored: Option<Tensor>,
    /// Where each row's sequences start, when a row holds several; None for one per row.
    pub packing: Option<Packing>,
}

impl TokenBatch {
    /// Windows (B, T + 1) of consecutive tokens: each position predicts the next.
    pub fn from_windows(windows: &Tensor) -> CandleResult<Self> {
        let t = windows.dim(1)? - 1;
        Ok(TokenBatch { inputs: windows.narrow(1, 0, t)?, targets: windows.narrow(1, 1, t)?.flatten_all()?, scored: None, packing: None })
    }

    pub fn scored_targets(&self, device: &Device) -> CandleResult<Tensor> {
        let targets = self.targets.to_device(device)?;
        match &self.scored {
            Some(rows) => targets.index_select(&rows.to_device(device)?, 0),
            None => Ok(targets),
        }
    }
}

/// Each row's -log softmax(logits)[target], for logits (rows, V) and target ids (rows).
fn token_nll(logits: &Tensor, targets: &Tensor) -> CandleResult<Tensor> {
    let picked = logits.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
    logits.log_sum_exp(1)? - picked
}

/// Attention's 1 / sqrt(head_size).
pub(crate) fn attention_scale(head_size: usize) -> f64 {
    1.0 / (head_size as f64).sqrt()
}

/// Takes each parameter's gradient, by name and in the parameter's dtype, once: in the order the backward
/// pass finishes them (backprop.rs: the reverse of the parameters' order, give or take the order inside
/// a layer).
pub type GradientSink<'a> = dyn FnMut(&str, Tensor) -> Result<()> + 'a;

/// A gradient sink that keeps every gradient by name.
pub fn collect_gradients(grads: &mut HashMap<String, Tensor>) -> impl FnMut(&str, Tensor) -> Result<()> + '_ {
    |name, grad| {
        grads.insert(name.to_string(), grad);
        Ok(())
    }
}
