//! One decode step for several sequences at once: each brings its newest token and its own KV cache
//! (its own length, so its own positions), and the step returns each one's next-token logits.
//!
//! The linear layers take all the sequences' rows together, so the weights are read once per step
//! rather than once per sequence: that is what makes serving eight streams cheaper than eight times
//! one. Attention runs per sequence, against its own cache. On the CPU in float32 the step is
//! batch-invariant: the matmuls are decode_matmul's, whose rows never influence each other, and every
//! other op works row by row, so a sequence's logits have the same bits alone or beside others.
//! Elsewhere (a GPU, bfloat16) the linear layers are candle's and carry no such promise.

use candle_core::{DType, Device, Result, Tensor};
use rayon::prelude::*;

use super::decode_matmul::rows_times_weight_t;
use super::layers::{add_rms_norm, linear, merge_heads, rms_norm, swiglu};
use super::llama::{Attended, Context, KvCache, Llama};

impl Llama {
    /// Logits (B, V) after `tokens[b]` for each sequence b, whose earlier positions are in `caches[b]`
    /// (filled by `forward_cached`); each cache then holds one more position.
    pub fn decode_step(&self, tokens: &[u32], caches: &mut [&mut KvCache]) -> Result<Tensor> {
        let c = &self.config;
        if tokens.is_empty() || tokens.len() != caches.len() {
            candle_core::bail!("decode_step takes one token per cache ({} tokens, {} caches)", tokens.len(), caches.len());
        }
        if let Some(cache) = caches.iter().find(|cache| cache.is_empty() || cache.len >= c.block_size) {
            candle_core::bail!(
                "decode_step continues a prefilled sequence shorter than block_size ({}); this one has {}",
                c.block_size,
                cache.len
            );
        }
        let ids = Tensor::new(tokens, &Device::Cpu)?.to_device(self.device())?;
        let mut x = self.weight("transformer.wte.weight").embedding(&ids)?.to_dtype(self.compute_dtype())?; // (B, C)
        let mut mlp_out: Option<Tensor> = None;
        for layer in 0..c.n_layer {
            let w = |name: &str| self.layer_weight(layer, name);
            let (input, h1) = match &mlp_out {
                Some(delta) => add_rms_norm(&x, delta, &w("norm_1.weight"), c.norm_eps)?,
                None => (x.clone(), rms_norm(&x, &w("norm_1.weight"), c.norm_eps)?),
            };
            let qkv = self.decode_linear(&h1, &w("attn.qkv.weight"))?;
            // Each sequence against its own cache: side by side on the CPU's cores; in order on a GPU,
            // whose kernels queue on one stream anyway.
            let attend = |(row, cache): (usize, &&mut KvCache)| {
                let Attended { heads_out, .. } =
                    self.attend(&qkv.narrow(0, row, 1)?, 1, Context { cache: Some((&cache.layers[layer], cache.len)), packing: None })?;
                merge_heads(&heads_out, c.n_head)
            };
            let heads = if self.device().is_cpu() {
                caches.par_iter().enumerate().map(attend).collect::<Result<Vec<_>>>()?
            } else {
                caches.iter().enumerate().map(attend).collect::<Result<Vec<_>>>()?
            };
            let y = Tensor::cat(&heads, 0)?;
            let (mid, h2) = add_rms_norm(&input, &self.decode_linear(&y, &w("attn.proj.weight"))?, &w("norm_2.weight"), c.norm_eps)?;
            let gated = swiglu(&self.decode_linear(&h2, &w("mlp.fc_1.weight"))?, &self.decode_linear(&h2, &w("mlp.fc_2.weight"))?)?;
            mlp_out = Some(self.decode_linear(&gated, &w("mlp.proj.weight"))?);
            x = mid;
        }
        let ln_f = self.weight("transformer.ln_f.weight");
        let (_, normed) = add_rms_norm(&x, mlp_out.as_ref().expect("at least one layer"), &ln_f, c.norm_eps)?;
        let logits = self.decode_linear(&normed, &self.weight(self.lm_head_name()))?;
        for cache in caches.iter_mut() {
            cache.len += 1;
        }
        Ok(logits)
    }

    /// x (rows, in) W^T: decode_matmul's row-invariant product for float32 on the CPU, candle's matmul
    /// in the compute dtype elsewhere.
    fn decode_linear(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        let on_cpu_f32 = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
        if !(on_cpu_f32(x) && on_cpu_f32(weight)) {
            return linear(x, &weight.to_dtype(self.compute_dtype())?);
        }
        let (rows, out_features) = (x.dim(0)?, weight.dim(0)?);
        let x_values = x.flatten_all()?.to_vec1::<f32>()?;
        let (storage, layout) = weight.storage_and_layout();
        let candle_core::Storage::Cpu(cpu) = &*storage else { unreachable!("checked: on the CPU") };
        let Some((start, end)) = layout.contiguous_offsets() else {
            drop(storage);
            return linear(x, weight);
        };
        let y = rows_times_weight_t(&x_values, rows, &cpu.as_slice::<f32>()?[start..end], out_features);
        Tensor::from_vec(y, (rows, out_features), &Device::Cpu)
    }
}
