# Writes crates/minilm-core/tests/golden/lora.json: golden values for minilm's LoRA, computed with PyTorch
# over scripts/reference/litgpt_model.py (the model the other goldens use, with the same deterministic
# weights as make_model_golden.py) with each targeted nn.Linear wrapped unmerged, as litgpt's and peft's
# LoRA layers compute it:
#
#   y = x W^T + (alpha / r) * (x A^T) B^T      W frozen; A (r, in) and B (out, r) trained
#
# For each tiny config, adapters with deterministic non-zero A and B on a set of targets, and over the
# golden's input ids: the logits (unmerged), the mean cross-entropy, the gradients of every A and B, and
# three clipped AdamW steps over the adapters alone (losses, gradient norms, final adapters). minilm merges
# the adapters into the weights instead; the test checks that both give the same numbers.
#
# Run it once by hand (never in CI), from the repository root:
#   python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch numpy
#   /tmp/pyref/bin/python scripts/reference/make_lora_golden.py
# Last run with torch 2.15.0 (CPU, float32, one thread, deterministic algorithms).

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import litgpt_model as ref  # noqa: E402
import make_model_golden as golden  # noqa: E402

OUT = os.path.join(golden.ROOT, "crates", "minilm-core", "tests", "golden", "lora.json")

# Per config: the rank, alpha and targets (a tied head cannot be adapted alone, so only the untied case
# adapts lm_head, and it leaves proj out to check that targets select).
LORA = {
    "tied_gqa": dict(r=2, alpha=3.0, targets=["qkv", "proj", "mlp"]),
    "untied_mqa_partial_rope": dict(r=3, alpha=6.0, targets=["qkv", "mlp", "head"]),
}
ADAMW = dict(lr=0.01, betas=[0.9, 0.95], eps=1e-8, weight_decay=0.1, max_norm=0.05)
STEPS = 3


class LoRALinear(nn.Module):
    def __init__(self, linear: nn.Linear, r: int, alpha: float, k: int) -> None:
        super().__init__()
        self.linear = linear
        self.scale = alpha / r
        out_features, in_features = linear.weight.shape
        a = 0.3 * np.sin(0.41 * np.arange(1, r * in_features + 1) + 0.9 * k)
        b = 0.3 * np.cos(0.29 * np.arange(1, out_features * r + 1) + 1.1 * k)
        self.lora_A = nn.Parameter(torch.from_numpy(a.astype(np.float32)).view(r, in_features))
        self.lora_B = nn.Parameter(torch.from_numpy(b.astype(np.float32)).view(out_features, r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale


def targeted(name: str, targets: list[str]) -> bool:
    kinds = {"attn.qkv": "qkv", "attn.proj": "proj", "mlp.fc_1": "mlp", "mlp.fc_2": "mlp", "mlp.proj": "mlp", "lm_head": "head"}
    return any(name.endswith(suffix) and kind in targets for suffix, kind in kinds.items())


def adapted_model(c: dict, lora: dict) -> tuple[ref.GPT, list[tuple[str, LoRALinear]]]:
    """The golden model with the targeted linears wrapped, in the model's parameter order."""
    model = ref.GPT(c)
    golden.set_deterministic_weights(model)
    for p in model.parameters():
        p.requires_grad_(False)
    order = [name.removesuffix(".weight") for name, _ in ref.canonical_parameters(model)]
    adapted = []
    for module_name in order:
        if not targeted(module_name, lora["targets"]):
            continue
        parent_name, _, child = module_name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        wrapped = LoRALinear(getattr(parent, child), lora["r"], lora["alpha"], len(adapted))
        setattr(parent, child, wrapped)
        adapted.append((module_name, wrapped))
    return model, adapted


def adapters_json(adapted) -> dict:
    out = {}
    for name, layer in adapted:
        out[f"{name}.lora_A"] = golden.tensor_json(layer.lora_A)
        out[f"{name}.lora_B"] = golden.tensor_json(layer.lora_B)
    return out


def run_case(name: str, cfg: dict) -> dict:
    c = ref.make_config(**cfg)
    lora = LORA[name]
    V = c["vocab_size"]
    ids = torch.tensor([[(7 * b + 5 * t + 3) % V for t in range(golden.T + 1)] for b in range(golden.B)], dtype=torch.long)

    model, adapted = adapted_model(c, lora)
    initial = adapters_json(adapted)
    logits = model(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1))
    loss.backward()
    grads = {}
    for module_name, layer in adapted:
        for kind, p in (("lora_A", layer.lora_A), ("lora_B", layer.lora_B)):
            assert torch.count_nonzero(p.grad) > 0, f"{name}: zero grad for {module_name}.{kind}"
            grads[f"{module_name}.{kind}"] = golden.tensor_json(p.grad)

    # The same model with W + s B A in place of the wrapped layers: the merge minilm does.
    merged = ref.GPT(c)
    golden.set_deterministic_weights(merged)
    with torch.no_grad():
        for module_name, layer in adapted:
            merged.get_submodule(module_name).weight += layer.scale * layer.lora_B @ layer.lora_A
        # Relative to the largest logit: float32 sums in another order.
        difference = ((merged(ids[:, :-1]) - logits).abs().max() / logits.abs().max()).item()
    assert difference < 1e-5, f"{name}: merged and unmerged logits differ by {difference} (relative)"

    # AdamW over the adapters alone, clipped, from the same adapters.
    model2, adapted2 = adapted_model(c, lora)
    trained = [p for _, layer in adapted2 for p in (layer.lora_A, layer.lora_B)]
    opt = torch.optim.AdamW(trained, lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]), eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"])
    losses, norms = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        step_loss = ref.lm_loss(model2, ids)
        step_loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(trained, ADAMW["max_norm"])))
        opt.step()
        losses.append(float(step_loss.detach()))
    assert all(n > ADAMW["max_norm"] for n in norms), f"{name}: clipping not active at every step: {norms}"

    print(f"{name}: r {lora['r']} alpha {lora['alpha']} targets {lora['targets']}: {len(adapted)} adapted weights, "
          f"loss {float(loss):.6f}, merged vs unmerged {difference:.2e} relative, |logits| <= {logits.abs().max().item():.2f}, AdamW losses {[round(x, 6) for x in losses]}")
    return {
        "name": name,
        "lora": lora,
        "adapters": initial,
        "logits": golden.tensor_json(logits),
        "loss": float(loss.detach()),
        "grads": grads,
        "adamw": dict(ADAMW, losses=losses, grad_norms=norms, final_adapters=adapters_json(adapted2)),
    }


def main() -> None:
    golden.write_cases(
        OUT,
        "scripts/reference/make_lora_golden.py (reference: scripts/reference/litgpt_model.py; weights and input ids as in make_model_golden.py)",
        run_case,
    )


if __name__ == "__main__":
    main()
