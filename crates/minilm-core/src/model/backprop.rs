//! Gradients by hand, as llm.c computes them, on the CPU and the GPU alike: the forward pass keeps each
//! block's activations, and the backward pass walks the blocks in reverse with explicit matmuls and
//! the fused kernels' backward functions. Candle's autograd would give the same numbers, but it
//! fills a zero tensor and adds into it for every op of the graph, which cost a third of a training
//! step on the CPU. tests/core/model_golden.rs checks every gradient against PyTorch; the kernel check
//! compares the GPU's against the CPU's.
//!
//! Under bf16-mixed the matmuls run on the bfloat16 copies of the weights that the forward pass made
//! (kept in its activations), and their gradients come out in bfloat16; they are widened to the float32
//! master weights' dtype as they are handed over.
//!
//! Each gradient goes to a `GradientSink` (llama.rs) as soon as it is final, last layer first: a data-parallel
//! trainer starts summing the last layers' gradients over the ranks while the pass computes the first
//! layers' (train/gradient_buckets.rs).

use candle_core::{DType, Tensor};

use crate::error::Result;

use super::fused::{self, batched_matmul, merge_heads, rms_norm_backward, split_heads, swiglu_backward};
use super::llama::{attention_scale, Activations, AttentionKept, BlockActivations, GradientSink, Llama};

/// y = x W^T: given dy, returns (dx, dW).
fn linear_backward(x: &Tensor, weight: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    Ok((dy.matmul(weight)?, dy.t()?.matmul(x)?))
}

impl Llama {
    /// Hands every parameter's gradient to `sink`, given the forward pass's `activations` (with its
    /// blocks kept), the gradient of the logits, and the input token ids on the host.
    pub(crate) fn backprop(&self, activations: &Activations, d_logits: &Tensor, input_ids: &[u32], sink: &mut GradientSink) -> Result<()> {
        let c = &self.config;
        // bf16-mixed: the matmuls' gradients come in bfloat16, the float32 master weights want float32.
        let mut emit = |name: &str, grad: Tensor| sink(name, grad.to_dtype(self.params.get(name).dtype())?);
        let (mut d_normed, d_head) = linear_backward(&activations.normed, &activations.head_weight, d_logits)?;
        if !c.tie_embeddings {
            emit("lm_head.weight", d_head.clone())?;
        }
        if let Some(rows) = &activations.scored {
            // Rows left out of the loss get no gradient from the head.
            d_normed = Tensor::zeros(activations.last.shape(), d_normed.dtype(), d_normed.device())?.index_add(rows, &d_normed, 0)?;
        }
        let (mut dx, d_norm) = rms_norm_backward(&activations.last, &self.weight("transformer.ln_f.weight"), &d_normed, None, c.norm_eps)?;
        emit("transformer.ln_f.weight", d_norm)?;
        for (layer, block) in activations.blocks.iter().enumerate().rev() {
            dx = self.block_backward(layer, block, activations, &dx, &mut emit)?;
        }
        // The embedding's gradient (float32): each token's row gets the gradient of its input positions.
        let d_embedding = fused::embedding_backward(input_ids, &dx, c.padded_vocab_size)?;
        let d_embedding = if c.tie_embeddings { (d_embedding + d_head.to_dtype(DType::F32)?)? } else { d_embedding };
        emit("transformer.wte.weight", d_embedding)
    }

    /// One block in reverse: emits its parameters' gradients and returns the gradient of its input.
    fn block_backward(
        &self,
        layer: usize,
        a: &BlockActivations,
        whole: &Activations,
        d_out: &Tensor,
        emit: &mut GradientSink,
    ) -> Result<Tensor> {
        let (batch, packing) = (whole.batch, whole.packing.as_ref());
        let c = &self.config;
        let (h, g, d) = (c.n_head, c.n_query_groups, c.head_size);
        let t = a.input.dim(0)? / batch;
        let w = |name: &str| self.layer_weight(layer, name);
        let mw = &a.matmul_weights;
        let mut grad = |name: &str, value: Tensor| emit(&format!("transformer.h.{layer}.{name}"), value);

        // MLP: out = mid + swiglu(h2 W1^T, h2 W2^T) Wp^T, h2 = norm_2(mid).
        let (d_gated, d_proj) = linear_backward(&a.gated, &mw.mlp_proj, d_out)?;
        grad("mlp.proj.weight", d_proj)?;
        let (d_gate, d_up) = swiglu_backward(&a.gate, &a.up, &d_gated)?;
        let (d_h2_gate, d_fc1) = linear_backward(&a.h2, &mw.fc_1, &d_gate)?;
        let (d_h2_up, d_fc2) = linear_backward(&a.h2, &mw.fc_2, &d_up)?;
        grad("mlp.fc_1.weight", d_fc1)?;
        grad("mlp.fc_2.weight", d_fc2)?;
        // mid's gradient: through norm_2, plus d_out along the residual stream (added in the same pass).
        let (d_mid, d_norm_2) = rms_norm_backward(&a.mid, &w("norm_2.weight"), &(d_h2_gate + d_h2_up)?, Some(d_out), c.norm_eps)?;
        grad("norm_2.weight", d_norm_2)?;

        // Attention: mid = input + merge(softmax(Q K^T) V) Wo^T, with Q, K, V from h1 = norm_1(input).
        let (d_y, d_attn_proj) = linear_backward(&a.y, &mw.attn_proj, &d_mid)?;
        grad("attn.proj.weight", d_attn_proj)?;
        let d_heads = split_heads(&d_y, batch, 0, h, g, d, None)?; // (B, G, Q T, D)
        let (d_queries, d_keys, d_values) = match &a.attention {
            AttentionKept::Weights(weights) => {
                let d_weights = batched_matmul(&d_heads, &a.values.t()?)?;
                let d_values = batched_matmul(&weights.t()?, &d_heads)?;
                let d_scores = fused::causal_softmax_backward(weights, &d_weights, attention_scale(d), t, 0)?;
                (batched_matmul(&d_scores, &a.keys)?, batched_matmul(&d_scores.t()?, &a.queries)?, d_values)
            }
            AttentionKept::LogSumExp(lse) => {
                // The heads' output, head-major again (y is it merged): a transient copy, not kept.
                let out = split_heads(&a.y, batch, 0, h, g, d, None)?;
                let causal = fused::Causal { query_len: t, first_position: 0, scale: attention_scale(d) as f32 };
                fused::flash_attention_backward(&a.queries, &a.keys, &a.values, &out, lse, &d_heads, causal)?
            }
        };
        let rotation = self.rotation(0, packing);
        let rotation = (c.rope_n_elem() > 0).then_some(&rotation);
        let d_qkv =
            Tensor::cat(&[merge_heads(&d_queries, h, rotation)?, merge_heads(&d_keys, g, rotation)?, merge_heads(&d_values, g, None)?], 1)?; // (B T, (H + 2G) D), the fused qkv's output layout
        let (d_h1, d_qkv_weight) = linear_backward(&a.h1, &mw.qkv, &d_qkv)?;
        grad("attn.qkv.weight", d_qkv_weight)?;
        let (d_input, d_norm_1) = rms_norm_backward(&a.input, &w("norm_1.weight"), &d_h1, Some(&d_mid), c.norm_eps)?;
        grad("norm_1.weight", d_norm_1)?;
        Ok(d_input)
    }
}
