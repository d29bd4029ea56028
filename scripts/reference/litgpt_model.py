"""A small, self-contained PyTorch re-statement of litgpt's GPT for the LLaMA family.

This is the reference that minilm's Rust (candle) model is checked against: it computes exactly what
litgpt's `litgpt/model.py` computes for a config with
    norm_class_name="RMSNorm", mlp_class_name="LLaMAMLP", parallel_residual=False, bias=False,
    rope_interleave=False, scale_embeddings=False, no softcapping, no sliding window, no qk-norm,
with the same parameter names and shapes, so a litgpt state dict loads into it (`load_state_dict`) and
back. Only torch is needed (no litgpt, no lightning).

Things worth knowing about litgpt's semantics, all reproduced here:
- `padded_vocab_size` rows exist in both wte and lm_head; the logits have padded_vocab_size columns and the
  loss is a softmax over ALL of them (the padding columns are not masked), so lm_head's padding rows get
  gradients. If padded_vocab_size is null it is vocab_size rounded up to padding_multiple (512), and
  vocab_size becomes min(vocab_size, padded_vocab_size).
- RoPE touches only the first rope_n_elem = int(rotary_percentage * head_size) channels of each q/k head,
  and its "rotate_half" split is at rope_n_elem // 2 inside that slice (not at head_size // 2). Angles are
  computed in float32: theta = 1 / base ** (arange(0, n, 2).float() / n), angle = pos * theta, then the
  [n/2] angles are repeated twice ([t0..t(n/2-1), t0..t(n/2-1)]).
- GQA/MQA: query head h reads KV group h // (n_head // n_query_groups) (litgpt: repeat_interleave).
- The attention output has n_head * head_size channels, which need not equal n_embd (proj maps it back).
- Tied embeddings: litgpt's pretrain does `model.transformer.wte.weight = model.lm_head.weight` after init,
  i.e. the one tensor is lm_head's (both are initialised with the same std, so it only matters for the RNG
  stream). GPT registers lm_head BEFORE transformer, so `model.parameters()` / `named_parameters()` yield
  lm_head.weight first and, when tied, name the shared tensor "lm_head.weight"; state_dict() holds both keys.
- litgpt's pretrain init (`initialize_weights`): every Linear/Embedding ~ N(0, sqrt(2 / (5 * n_embd))), then
  attn.proj and mlp.proj ~ N(0, (1 / sqrt(n_embd)) / n_layer); norm weights 1. Modules are reset in
  `model.modules()` order; `init_weights_litgpt` below uses that same order so that, after the same
  torch.manual_seed, it draws the same numbers as litgpt on the CPU.
- Optimizer: torch.optim.AdamW over model.parameters() (one group: weight decay on every tensor, norms
  and embeddings included), after torch.nn.utils.clip_grad_norm_(params, max_norm), whose clip factor is
  min(1, max_norm / (total_norm + 1e-6)).
- Loss: cross entropy (mean over B*T) of model(batch[:, :T]) against batch[:, 1:T+1].
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------- config

LITGPT_KEYS = (
    "block_size", "vocab_size", "padded_vocab_size", "n_layer", "n_head", "n_embd", "head_size",
    "n_query_groups", "rotary_percentage", "rope_base", "norm_eps", "intermediate_size", "tie_embeddings",
)


def find_multiple(n: int, k: int) -> int:
    """litgpt.utils.find_multiple: n rounded up to a multiple of k."""
    return n if n % k == 0 else n + k - (n % k)


def make_config(**kw) -> dict:
    """A config dict with litgpt's keys; unspecified ones get litgpt's defaults (for this family).

    Required: n_layer, n_head, n_embd, intermediate_size, vocab_size, block_size.
    """
    c = dict(
        block_size=4096, vocab_size=50254, padded_vocab_size=None, n_layer=16, n_head=32, n_embd=4096,
        head_size=None, n_query_groups=None, rotary_percentage=0.25, rope_base=10000, norm_eps=1e-5,
        intermediate_size=None, tie_embeddings=False, padding_multiple=512,
    )
    unknown = set(kw) - set(c)
    if unknown:
        raise KeyError(f"unknown config keys {sorted(unknown)}")
    c.update(kw)
    if c["padded_vocab_size"] is None:
        c["padded_vocab_size"] = find_multiple(c["vocab_size"], c["padding_multiple"])
    else:
        c["vocab_size"] = min(c["vocab_size"], c["padded_vocab_size"])  # litgpt Config.__post_init__
    if c["head_size"] is None:
        assert c["n_embd"] % c["n_head"] == 0
        c["head_size"] = c["n_embd"] // c["n_head"]
    if c["n_query_groups"] is None:
        c["n_query_groups"] = c["n_head"]
    assert c["n_head"] % c["n_query_groups"] == 0
    if c["intermediate_size"] is None:
        raise ValueError("LLaMAMLP needs intermediate_size")
    del c["padding_multiple"]
    return c


def rope_n_elem(c: dict) -> int:
    return int(c["rotary_percentage"] * c["head_size"])


# ----------------------------------------------------------------------------------------------- model


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x_normed = x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + self.eps)
        return (x_normed * self.weight.float()).to(dtype=dtype)


def build_rope_cache(seq_len: int, n_elem: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape (seq_len, n_elem), float32, exactly as litgpt builds them."""
    theta = 1.0 / (base ** (torch.arange(0, n_elem, 2).float() / n_elem))  # (n_elem/2,) float32
    pos = torch.arange(seq_len).float()
    idx_theta = torch.outer(pos, theta).repeat(1, 2)  # (T, n_elem): [angles, angles]
    if idx_theta.shape[-1] > n_elem > 1:  # odd n_elem
        idx_theta = idx_theta[..., :n_elem]
    return torch.cos(idx_theta), torch.sin(idx_theta)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, nh, T, n_elem); cos/sin: (T, n_elem). NeoX rotate_half: [x1, x2] -> [-x2, x1]."""
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]
    rotated = torch.cat((-x2, x1), dim=-1)
    return ((x * cos) + (rotated * sin)).to(dtype=x.dtype)


class CausalSelfAttention(nn.Module):
    def __init__(self, c: dict, attn_impl: str = "math") -> None:
        super().__init__()
        self.c = c
        self.attn_impl = attn_impl
        self.qkv = nn.Linear(c["n_embd"], (c["n_head"] + 2 * c["n_query_groups"]) * c["head_size"], bias=False)
        self.proj = nn.Linear(c["n_head"] * c["head_size"], c["n_embd"], bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        c = self.c
        B, T, _ = x.shape
        hs, nh, ng = c["head_size"], c["n_head"], c["n_query_groups"]
        n_rope = rope_n_elem(c)

        qkv = self.qkv(x)  # (B, T, (nh + 2*ng) * hs): [all Q heads | all K groups | all V groups]
        q, k, v = qkv.split((nh * hs, ng * hs, ng * hs), dim=-1)
        q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, ng, hs).transpose(1, 2)  # (B, ng, T, hs)
        v = v.view(B, T, ng, hs).transpose(1, 2)

        # RoPE on the first n_rope channels of every head; the rest pass through unchanged.
        q = torch.cat((apply_rope(q[..., :n_rope], cos, sin), q[..., n_rope:]), dim=-1)
        k = torch.cat((apply_rope(k[..., :n_rope], cos, sin), k[..., n_rope:]), dim=-1)

        # Query head h uses KV group h // (nh // ng).
        if ng != nh:
            q_per_kv = nh // ng
            k = k.repeat_interleave(q_per_kv, dim=1)  # (B, nh, T, hs)
            v = v.repeat_interleave(q_per_kv, dim=1)

        scale = 1.0 / math.sqrt(hs)
        if self.attn_impl == "sdpa":  # what litgpt calls; same math, fused kernel
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, scale=scale, is_causal=True)
        else:  # explicit causal softmax attention
            scores = (q @ k.transpose(-2, -1)) * scale  # (B, nh, T, T)
            future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(diagonal=1)
            scores = scores.masked_fill(future, float("-inf"))
            att = torch.softmax(scores.float(), dim=-1).to(q.dtype)
            y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, nh * hs)  # heads side by side
        return self.proj(y)


class LLaMAMLP(nn.Module):
    def __init__(self, c: dict) -> None:
        super().__init__()
        self.fc_1 = nn.Linear(c["n_embd"], c["intermediate_size"], bias=False)
        self.fc_2 = nn.Linear(c["n_embd"], c["intermediate_size"], bias=False)
        self.proj = nn.Linear(c["intermediate_size"], c["n_embd"], bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.silu(self.fc_1(x)) * self.fc_2(x))


class Block(nn.Module):
    def __init__(self, c: dict, attn_impl: str = "math") -> None:
        super().__init__()
        # registration order = litgpt's (norm_1, attn, norm_2, mlp), which fixes the init RNG order
        self.norm_1 = RMSNorm(c["n_embd"], eps=c["norm_eps"])
        self.attn = CausalSelfAttention(c, attn_impl)
        self.norm_2 = RMSNorm(c["n_embd"], eps=c["norm_eps"])
        self.mlp = LLaMAMLP(c)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_1(x), cos, sin)  # parallel_residual = False
        return x + self.mlp(self.norm_2(x))


class GPT(nn.Module):
    def __init__(self, c: dict, attn_impl: str = "math") -> None:
        super().__init__()
        self.config = c
        # litgpt registers lm_head first
        self.lm_head = nn.Linear(c["n_embd"], c["padded_vocab_size"], bias=False)
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(c["padded_vocab_size"], c["n_embd"]),
                h=nn.ModuleList(Block(c, attn_impl) for _ in range(c["n_layer"])),
                ln_f=RMSNorm(c["n_embd"], eps=c["norm_eps"]),
            )
        )
        cos, sin = build_rope_cache(c["block_size"], rope_n_elem(c), c["rope_base"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        if c["tie_embeddings"]:
            self.tie_weights()

    def tie_weights(self) -> None:
        """litgpt pretrain: `model.transformer.wte.weight = model.lm_head.weight`."""
        self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.size(1)
        if T > self.config["block_size"]:
            raise ValueError(f"sequence of length {T} > block_size {self.config['block_size']}")
        cos, sin = self.cos[:T], self.sin[:T]
        x = self.transformer.wte(idx)  # (B, T, n_embd)
        for block in self.transformer.h:
            x = block(x, cos, sin)
        x = self.transformer.ln_f(x)
        return self.lm_head(x)  # (B, T, padded_vocab_size)


# ----------------------------------------------------------------------------------------------- helpers


def canonical_parameters(model: GPT) -> list[tuple[str, nn.Parameter]]:
    """Parameters in minilm's canonical order: wte, per layer (norm_1, attn.qkv, attn.proj, norm_2,
    mlp.fc_1, mlp.fc_2, mlp.proj), ln_f, then lm_head only when untied. A tied tensor is listed once,
    as transformer.wte.weight."""
    out = [("transformer.wte.weight", model.transformer.wte.weight)]
    for i, b in enumerate(model.transformer.h):
        p = f"transformer.h.{i}."
        out += [
            (p + "norm_1.weight", b.norm_1.weight),
            (p + "attn.qkv.weight", b.attn.qkv.weight),
            (p + "attn.proj.weight", b.attn.proj.weight),
            (p + "norm_2.weight", b.norm_2.weight),
            (p + "mlp.fc_1.weight", b.mlp.fc_1.weight),
            (p + "mlp.fc_2.weight", b.mlp.fc_2.weight),
            (p + "mlp.proj.weight", b.mlp.proj.weight),
        ]
    out.append(("transformer.ln_f.weight", model.transformer.ln_f.weight))
    if model.lm_head.weight is not model.transformer.wte.weight:
        out.append(("lm_head.weight", model.lm_head.weight))
    return out


def num_parameters(model: nn.Module) -> int:
    """Unique parameters (a tied tensor counts once), like litgpt.utils.num_parameters."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def init_weights_litgpt(model: GPT) -> None:
    """litgpt pretrain's initialize_weights, drawing in litgpt's module order (lm_head, wte, then per
    block qkv, attn.proj, fc_1, fc_2, mlp.proj). Call torch.manual_seed(seed) first. Ties afterwards
    (wte := lm_head) when the config says so, as litgpt's pretrain does."""
    c = model.config
    std = math.sqrt(2.0 / 5 / c["n_embd"])
    proj_std = 1 / math.sqrt(c["n_embd"]) / c["n_layer"]
    proj_ids = set()
    for b in model.transformer.h:
        proj_ids.add(id(b.attn.proj))
        proj_ids.add(id(b.mlp.proj))
    if c["tie_embeddings"]:  # untie so wte gets its own draw, exactly like litgpt's fresh model
        model.transformer.wte.weight = nn.Parameter(torch.empty_like(model.lm_head.weight))
    for mod in model.modules():
        if isinstance(mod, (nn.Linear, nn.Embedding)):
            nn.init.normal_(mod.weight, mean=0.0, std=proj_std if id(mod) in proj_ids else std)
        elif isinstance(mod, RMSNorm):
            nn.init.ones_(mod.weight)
    if c["tie_embeddings"]:
        model.tie_weights()


def lm_loss(model: GPT, batch: torch.Tensor) -> torch.Tensor:
    """batch: (B, T+1) token ids. Cross entropy of model(batch[:, :T]) vs batch[:, 1:]."""
    inp, tgt = batch[:, :-1], batch[:, 1:]
    logits = model(inp)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1))


def make_adamw(model: nn.Module, lr: float, betas=(0.9, 0.95), eps: float = 1e-8, weight_decay: float = 0.1):
    """torch.optim.AdamW on all parameters, one group (litgpt: no decay exemptions)."""
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def train_step(model: GPT, optimizer: torch.optim.Optimizer, batch: torch.Tensor, max_norm: float):
    """One optimizer step (one micro-batch). Returns (loss, grad total norm before clipping), as floats.

    AdamW as torch computes it, per tensor, step t (1-based):
        p *= 1 - lr * weight_decay
        m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2
        p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    with g already multiplied by min(1, max_norm / (total_norm + 1e-6)).
    """
    optimizer.zero_grad(set_to_none=True)
    loss = lm_loss(model, batch)
    loss.backward()
    total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return float(loss.detach()), float(total_norm)
