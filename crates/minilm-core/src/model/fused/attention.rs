//! Causal grouped-query attention without the T x T probabilities (FlashAttention 2's contract): the
//! forward pass returns the output and one float32 log-sum-exp per query row, and the backward pass
//! recomputes the probabilities from them. On a GPU these are kernels/attention.cu; here is their CPU
//! twin, exact float32 arithmetic row by row, which the emulated kernel test (npm run test:kernels)
//! and tests/core/model_golden.rs check against. The composite path (batched_matmul + causal_softmax, which
//! keeps the probabilities) stays the CPU's default and the reference.
//!
//! Shapes as layers::split_heads makes them: queries (B, G, Q T, D) with the Q heads of a group stacked
//! along the rows (row r is a query at position first_position + r % query_len), keys and values
//! (B, G, K, D), output (B, G, Q T, D), log-sum-exp (B, G, Q T).

use std::cell::Cell;

use candle_core::{bail, DType, Device, Result, Tensor};
use rayon::prelude::*;

/// The head sizes the CUDA kernels are instantiated for.
pub const FLASH_HEAD_SIZES: [usize; 3] = [48, 64, 128];

thread_local! {
    static FLASH_ON_CPU: Cell<bool> = const { Cell::new(false) };
}

/// Makes the model's forward passes on the calling thread use the flash path on the CPU too (its twin
/// here), for tests that check the model's wiring of it against PyTorch. Off by default: on the CPU the
/// composite path's matmuls are faster. Per thread, so that tests running beside one that sets it (the
/// test harness runs them on parallel threads of one process) keep the default path.
pub fn set_flash_attention_on_cpu(on: bool) {
    FLASH_ON_CPU.with(|flag| flag.set(on));
}

/// How a model on a GPU computes attention. The composite path (cuBLAS products and the fused causal
/// softmax, keeping each layer's B x H x T x T probabilities for the backward pass) is the default: on
/// the first GPU measured (H200, 2026-12-04) it trained the reference config at 318K tokens/s against
/// 40K for these CUDA-core flash kernels. Flash keeps only a log-sum-exp per query row, 10 GiB less at
/// the reference micro-batch: for a GPU the composite path does not fit (the caller decides, from the
/// memory estimate). On the CPU the composite path always runs (its matmuls are faster), unless a test
/// turns the flash twin on with `set_flash_attention_on_cpu`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionPath {
    #[default]
    Composite,
    Flash,
}

/// Whether attention over these queries runs the flash path: on a GPU when `path` asks for it and the
/// kernels take the queries (float32 or bfloat16, a head size they are instantiated for), on the CPU (any
/// head size, float32) when a test asks for it.
pub fn use_flash_attention(path: AttentionPath, queries: &Tensor) -> bool {
    let d = queries.dims().last().copied().unwrap_or(0);
    match queries.device() {
        Device::Cpu => FLASH_ON_CPU.with(Cell::get) && queries.dtype() == DType::F32,
        Device::Cuda(_) => path == AttentionPath::Flash && flash_kernels_take(queries.dtype(), d),
        _ => false,
    }
}

/// Whether the CUDA flash kernels exist for this dtype and head size (in this build).
fn flash_kernels_take(dtype: DType, head_size: usize) -> bool {
    cfg!(feature = "cuda") && FLASH_HEAD_SIZES.contains(&head_size) && matches!(dtype, DType::F32 | DType::BF16)
}

/// The positions of a query block: query rows cycle through query_len positions from first_position.
#[derive(Clone, Copy)]
pub struct Causal {
    pub query_len: usize,
    pub first_position: usize,
    pub scale: f32,
}

impl Causal {
    fn visible(&self, row: usize, keys: usize) -> usize {
        (self.first_position + row % self.query_len + 1).min(keys)
    }
}

/// (output, log-sum-exp) of softmax(scale q k^T, causal) v.
pub fn flash_attention(q: &Tensor, k: &Tensor, v: &Tensor, causal: Causal) -> Result<(Tensor, Tensor)> {
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    #[cfg(feature = "cuda")]
    if q.device().is_cuda() {
        return gpu::forward(&q, &k, &v, causal);
    }
    let s = Sizes::of(&q, &k)?;
    let (qv, kv, vv) = (host(&q)?, host(&k)?, host(&v)?);
    let mut out = vec![0f32; qv.len()];
    let mut lse = vec![0f32; s.bg * s.rows];
    out.par_chunks_mut(s.rows * s.d).zip(lse.par_chunks_mut(s.rows)).enumerate().for_each(|(bg, (out, lse))| {
        let (q, k, v) = (s.queries(&qv, bg), s.keys(&kv, bg), s.keys(&vv, bg));
        let mut p = vec![0f32; s.keys];
        for row in 0..s.rows {
            let visible = causal.visible(row, s.keys);
            let qr = &q[row * s.d..][..s.d];
            for (key, p) in p[..visible].iter_mut().enumerate() {
                *p = causal.scale * dot(qr, &k[key * s.d..][..s.d]);
            }
            let max = p[..visible].iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            let mut sum = 0f32;
            for p in &mut p[..visible] {
                *p = (*p - max).exp();
                sum += *p;
            }
            let o = &mut out[row * s.d..][..s.d];
            for (key, &p) in p[..visible].iter().enumerate() {
                o.iter_mut().zip(&v[key * s.d..][..s.d]).for_each(|(o, v)| *o += p * v);
            }
            o.iter_mut().for_each(|o| *o /= sum);
            lse[row] = max + sum.ln();
        }
    });
    Ok((Tensor::from_vec(out, q.shape(), q.device())?, Tensor::from_vec(lse, s.lse_shape(), q.device())?))
}

/// (dq, dk, dv) given the forward pass's output and log-sum-exp and the output's gradient.
pub fn flash_attention_backward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    lse: &Tensor,
    d_out: &Tensor,
    causal: Causal,
) -> Result<(Tensor, Tensor, Tensor)> {
    let [q, k, v, out, lse, d_out] = [q, k, v, out, lse, d_out].map(|t| t.contiguous());
    let (q, k, v, out, lse, d_out) = (q?, k?, v?, out?, lse?, d_out?);
    #[cfg(feature = "cuda")]
    if q.device().is_cuda() {
        return gpu::backward(&q, &k, &v, &out, &lse, &d_out, causal);
    }
    let s = Sizes::of(&q, &k)?;
    let (qv, kv, vv, ov, lv, dov) = (host(&q)?, host(&k)?, host(&v)?, host(&out)?, host(&lse)?, host(&d_out)?);
    let mut dq = vec![0f32; qv.len()];
    let mut dk = vec![0f32; kv.len()];
    let mut dv = vec![0f32; vv.len()];
    let per_bg = dq.par_chunks_mut(s.rows * s.d).zip(dk.par_chunks_mut(s.keys * s.d)).zip(dv.par_chunks_mut(s.keys * s.d));
    per_bg.enumerate().for_each(|(bg, ((dq, dk), dv))| {
        let (q, k, v) = (s.queries(&qv, bg), s.keys(&kv, bg), s.keys(&vv, bg));
        let (o, d_o, lse) = (s.queries(&ov, bg), s.queries(&dov, bg), &lv[bg * s.rows..][..s.rows]);
        for row in 0..s.rows {
            let (qr, dor) = (&q[row * s.d..][..s.d], &d_o[row * s.d..][..s.d]);
            let delta = dot(dor, &o[row * s.d..][..s.d]);
            for key in 0..causal.visible(row, s.keys) {
                let (kr, vr) = (&k[key * s.d..][..s.d], &v[key * s.d..][..s.d]);
                let p = (causal.scale * dot(qr, kr) - lse[row]).exp();
                let ds = p * (dot(dor, vr) - delta);
                let dqr = &mut dq[row * s.d..][..s.d];
                dqr.iter_mut().zip(kr).for_each(|(g, k)| *g += causal.scale * ds * k);
                dk[key * s.d..][..s.d].iter_mut().zip(qr).for_each(|(g, q)| *g += causal.scale * ds * q);
                dv[key * s.d..][..s.d].iter_mut().zip(dor).for_each(|(g, d)| *g += p * d);
            }
        }
    });
    let device = q.device();
    Ok((Tensor::from_vec(dq, q.shape(), device)?, Tensor::from_vec(dk, k.shape(), device)?, Tensor::from_vec(dv, v.shape(), device)?))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn host(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()
}

/// The sizes both passes index by.
struct Sizes {
    batch: usize,
    groups: usize,
    /// B * G.
    bg: usize,
    rows: usize,
    keys: usize,
    d: usize,
}

impl Sizes {
    fn of(q: &Tensor, k: &Tensor) -> Result<Self> {
        let (batch, groups, rows, d) = q.dims4()?;
        let (kb, kg, keys, kd) = k.dims4()?;
        if (kb, kg, kd) != (batch, groups, d) {
            bail!("flash attention: queries {:?} and keys {:?} disagree", q.dims(), k.dims());
        }
        Ok(Sizes { batch, groups, bg: batch * groups, rows, keys, d })
    }

    fn queries<'a>(&self, all: &'a [f32], bg: usize) -> &'a [f32] {
        &all[bg * self.rows * self.d..][..self.rows * self.d]
    }

    fn keys<'a>(&self, all: &'a [f32], bg: usize) -> &'a [f32] {
        &all[bg * self.keys * self.d..][..self.keys * self.d]
    }

    fn lse_shape(&self) -> (usize, usize, usize) {
        (self.batch, self.groups, self.rows)
    }
}

/// The CUDA twins (kernels/attention.cu), for float32 and bfloat16 inputs.
#[cfg(feature = "cuda")]
mod gpu {
    use candle_core::{Result, Tensor};

    use super::{Causal, Sizes};
    use crate::model::fused::cuda::{by_dtype, cuda_device, launch, output, tensor, view, Element, Kernel, Module};
    use crate::model::fused::launch::{attention_key_tiles, attention_query_tiles};

    pub fn forward(q: &Tensor, k: &Tensor, v: &Tensor, causal: Causal) -> Result<(Tensor, Tensor)> {
        by_dtype!(q.dtype(), run_forward(q, k, v, causal))
    }

    pub fn backward(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        lse: &Tensor,
        d_out: &Tensor,
        causal: Causal,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        by_dtype!(q.dtype(), run_backward(q, k, v, out, lse, d_out, causal))
    }

    /// (rows, keys, query_len, first_position, d) as the kernels take them; refuses a head size the
    /// kernels are not instantiated for (they would write nothing).
    fn args(s: &Sizes, causal: Causal) -> Result<[i32; 5]> {
        if !super::FLASH_HEAD_SIZES.contains(&s.d) {
            candle_core::bail!("flash attention's kernels take head sizes {:?}, not {}", super::FLASH_HEAD_SIZES, s.d);
        }
        Ok([s.rows, s.keys, causal.query_len, causal.first_position, s.d].map(|v| v as i32))
    }

    fn run_forward<T: Element>(q: &Tensor, k: &Tensor, v: &Tensor, causal: Causal) -> Result<(Tensor, Tensor)> {
        let device = cuda_device(q)?;
        let s = Sizes::of(q, k)?;
        let [(qs, ql), (ks, kl), (vs, vl)] = [q, k, v].map(|t| t.storage_and_layout());
        let (qv, kv, vv) = (view::<T>(&qs, ql)?, view::<T>(&ks, kl)?, view::<T>(&vs, vl)?);
        let out = output::<T>(&device, q.elem_count())?;
        let lse = output::<f32>(&device, s.bg * s.rows)?;
        let [rows, keys, query_len, first, d] = args(&s, causal)?;
        let kernel = Kernel::typed::<T>(&device, Module::Attention, "flash_attention_forward")?;
        let shape = attention_query_tiles(s.rows, s.bg);
        launch!(kernel, shape, &qv, &kv, &vv, &out, &lse, &rows, &keys, &query_len, &first, &d, &causal.scale)?;
        Ok((tensor(out, &device, q.shape().clone()), tensor(lse, &device, s.lse_shape())))
    }

    fn run_backward<T: Element>(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        lse: &Tensor,
        d_out: &Tensor,
        causal: Causal,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let device = cuda_device(q)?;
        let s = Sizes::of(q, k)?;
        let [(qs, ql), (ks, kl), (vs, vl), (os, ol), (dos, dol)] = [q, k, v, out, d_out].map(|t| t.storage_and_layout());
        let (qv, kv, vv) = (view::<T>(&qs, ql)?, view::<T>(&ks, kl)?, view::<T>(&vs, vl)?);
        let (ov, dov) = (view::<T>(&os, ol)?, view::<T>(&dos, dol)?);
        let (ls, ll) = lse.storage_and_layout();
        let lv = view::<f32>(&ls, ll)?;
        let dq = output::<T>(&device, q.elem_count())?;
        let (dk, dv) = (output::<T>(&device, k.elem_count())?, output::<T>(&device, v.elem_count())?);
        let [rows, keys, query_len, first, d] = args(&s, causal)?;
        let kernel = Kernel::typed::<T>(&device, Module::Attention, "flash_attention_backward_query")?;
        let shape = attention_query_tiles(s.rows, s.bg);
        launch!(kernel, shape, &qv, &kv, &vv, &ov, &lv, &dov, &dq, &rows, &keys, &query_len, &first, &d, &causal.scale)?;
        let kernel = Kernel::typed::<T>(&device, Module::Attention, "flash_attention_backward_key_value")?;
        let shape = attention_key_tiles(s.keys, s.bg);
        launch!(kernel, shape, &qv, &kv, &vv, &ov, &lv, &dov, &dk, &dv, &rows, &keys, &query_len, &first, &d, &causal.scale)?;
        Ok((tensor(dq, &device, q.shape().clone()), tensor(dk, &device, k.shape().clone()), tensor(dv, &device, v.shape().clone())))
    }
}
