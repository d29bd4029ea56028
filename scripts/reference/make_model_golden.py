# Writes crates/minilm-core/tests/golden/tiny_llama.json: golden values for minilm's LLaMA model, computed
# with scripts/reference/litgpt_model.py (a plain-PyTorch statement of litgpt's GPT, checked equal to
# litgpt 0.5.7's model.py and init): for two tiny configs, the weights, the logits and loss of one batch,
# the gradient of every parameter, and a 5-step AdamW run (with grad clipping) from the same weights.
#
# Run it once by hand (never in CI), from the repository root:
#   python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch numpy
#   /tmp/pyref/bin/python scripts/reference/make_model_golden.py
# Last run with torch 2.15.0 (CPU, float32, one thread, deterministic algorithms).
#
# Weights are not random, so they are easy to regenerate anywhere: the k-th parameter in canonical order
# (wte; per layer i: norm_1, attn.qkv, attn.proj, norm_2, mlp.fc_1, mlp.fc_2, mlp.proj; ln_f; lm_head if
# untied), element j of its row-major flattening, is
#   0.2 * sin(0.37 * (j + 1) + 1.3 * k)          (matrices)
#   1 + 0.1 * sin(0.37 * (j + 1) + 1.3 * k)      (norm weights)
# computed in float64 and cast to float32. They are stored in the JSON as well.
#
# Numbers: every float32 is written as the shortest decimal that reads back (decimal -> f64 -> f32, as
# serde_json does) to exactly the same float32; the script checks this for every number. Scalars (loss,
# grad norms) are the float32 result widened to float64, written with Python's repr.
#
# Semantics a consumer must match (see litgpt_model.py's docstring): logits have padded_vocab_size columns
# and the loss softmax runs over all of them; the tied tensor's grad is listed once, as
# transformer.wte.weight; AdamW is torch's (decoupled decay p *= 1 - lr*wd first, bias-corrected, eps added
# to sqrt(v)/sqrt(1-b2^t)), over every parameter, after clip_grad_norm_ with factor
# min(1, max_norm / (total_norm + 1e-6)); grad_norms[i] is the total L2 norm before clipping at step i and
# losses[i] the loss before step i.

import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import litgpt_model as ref  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "crates", "minilm-core", "tests", "golden", "tiny_llama.json")

CASES = [
    ("tied_gqa", dict(
        vocab_size=48, padded_vocab_size=48, block_size=16, n_layer=2, n_head=4, n_query_groups=2, n_embd=16,
        head_size=4, rotary_percentage=1.0, rope_base=10000, norm_eps=1e-5, intermediate_size=24,
        tie_embeddings=True)),
    ("untied_mqa_partial_rope", dict(
        vocab_size=40, padded_vocab_size=48, block_size=16, n_layer=2, n_head=4, n_query_groups=1, n_embd=16,
        head_size=8, rotary_percentage=0.5, rope_base=500, norm_eps=1e-6, intermediate_size=20,
        tie_embeddings=False)),
]
B, T = 2, 8
ADAMW = dict(lr=0.01, betas=[0.9, 0.95], eps=1e-8, weight_decay=0.1, max_norm=0.5)
STEPS = 5


# --------------------------------------------------------------------------------------- number output

def f32_str(x) -> str:
    """Shortest decimal that reads back to the same float32 through float64."""
    x = np.float32(x)
    s = np.format_float_positional(x, unique=True, trim="-") if 1e-4 <= abs(x) < 1e7 or x == 0 else \
        np.format_float_scientific(x, unique=True, trim="-")
    if np.float32(float(s)) != x or not math.isfinite(float(s)):
        s = repr(float(x))  # exact value of the float32; always reads back
        assert np.float32(float(s)) == x, s
    if s.endswith("."):
        s += "0"
    return s


def tensor_json(t: torch.Tensor) -> dict:
    a = t.detach().to(torch.float32).contiguous().numpy().reshape(-1)
    return {"shape": list(t.shape), "data": RawList(f32_str(v) for v in a)}


class RawList:
    """A list of already-formatted numbers, written on one line."""

    def __init__(self, items):
        self.items = list(items)


def dump(obj, indent=0) -> str:
    pad, pad1 = " " * indent, " " * (indent + 1)
    if isinstance(obj, RawList):
        return "[" + ",".join(obj.items) + "]"
    if isinstance(obj, dict):
        # leaf-ish dicts (no nested containers except one-line lists) go on one line
        if all(not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], (dict, list)))
               for v in obj.values()):
            return "{" + ", ".join(f"{json.dumps(k)}: {dump(v)}" for k, v in obj.items()) + "}"
        inner = (",\n").join(f"{pad1}{json.dumps(k)}: {dump(v, indent + 1)}" for k, v in obj.items())
        return "{\n" + inner + "\n" + pad + "}"
    if isinstance(obj, list):
        if obj and isinstance(obj[0], dict):
            return "[\n" + ",\n".join(pad1 + dump(v, indent + 1) for v in obj) + "\n" + pad + "]"
        return "[" + ",".join(dump(v) for v in obj) + "]"
    if isinstance(obj, float):
        return repr(obj)
    return json.dumps(obj)


def write_cases(out: str, generated_by: str, run_case) -> None:
    """For the scripts that build on these cases (DPO, LoRA): `run_case(name, cfg)` over CASES, computed
    deterministically on one thread, written to `out` as one JSON document."""
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    doc = {"generated_by": generated_by, "torch_version": torch.__version__, "cases": [run_case(n, cfg) for n, cfg in CASES]}
    text = dump(doc) + "\n"
    json.loads(text)
    with open(out, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(out, ROOT)}: {len(text.encode()) / 1024:.1f} KiB")


# --------------------------------------------------------------------------------------- the cases

def set_deterministic_weights(model: ref.GPT) -> None:
    with torch.no_grad():
        for k, (name, p) in enumerate(ref.canonical_parameters(model)):
            j = np.arange(1, p.numel() + 1, dtype=np.float64)
            s = np.sin(0.37 * j + 1.3 * k)
            is_norm = name.endswith("norm_1.weight") or name.endswith("norm_2.weight") or "ln_f" in name
            vals = (1.0 + 0.1 * s) if is_norm else 0.2 * s
            p.copy_(torch.from_numpy(vals.astype(np.float32)).view(p.shape))


def weights_json(model: ref.GPT) -> dict:
    return {name: tensor_json(p) for name, p in ref.canonical_parameters(model)}


def run_case(name: str, cfg: dict) -> dict:
    c = ref.make_config(**cfg)
    V = c["vocab_size"]
    ids = torch.tensor([[(7 * b + 5 * t + 3) % V for t in range(T + 1)] for b in range(B)], dtype=torch.long)

    model = ref.GPT(c)  # explicit-math attention
    set_deterministic_weights(model)
    init_weights = weights_json(model)
    params = ref.canonical_parameters(model)
    assert len({id(p) for _, p in params}) == len(list(model.parameters())), "canonical list != parameters()"

    # forward / loss / grads
    logits = model(ids[:, :T])
    assert logits.shape == (B, T, c["padded_vocab_size"])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1))
    loss.backward()
    loss = float(loss.detach())
    grads = {}
    for pname, p in params:
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, f"{name}: zero grad for {pname}"
        grads[pname] = tensor_json(p.grad)
    zero_frac = {pname: float((p.grad == 0).float().mean()) for pname, p in params}

    # 5 AdamW steps from the same initial weights
    model2 = ref.GPT(c)
    set_deterministic_weights(model2)
    opt = ref.make_adamw(model2, lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]), eps=ADAMW["eps"],
                         weight_decay=ADAMW["weight_decay"])
    losses, norms = [], []
    for _ in range(STEPS):
        l, n = ref.train_step(model2, opt, ids, ADAMW["max_norm"])
        losses.append(l)
        norms.append(n)
    assert all(n > ADAMW["max_norm"] for n in norms), f"{name}: clipping not active at every step: {norms}"
    assert losses[0] == loss, (losses[0], loss)

    print(f"{name}: params {ref.num_parameters(model)} ({len(params)} tensors), loss {loss:.6f}, "
          f"logits |max| {logits.abs().max().item():.4f}")
    print(f"  adamw losses {[round(x, 6) for x in losses]}")
    print(f"  grad norms   {[round(x, 6) for x in norms]}")
    sparse = {k: round(v, 3) for k, v in zero_frac.items() if v > 0}
    if sparse:
        print(f"  grads with exact-zero elements (fraction): {sparse}")

    return {
        "name": name,
        "config": {k: c[k] for k in ref.LITGPT_KEYS},
        "input_ids": ids.tolist(),
        "weights": init_weights,
        "logits": tensor_json(logits),
        "loss": loss,
        "grads": grads,
        "adamw": dict(ADAMW, losses=losses, grad_norms=norms, final_weights=weights_json(model2)),
    }


def main() -> None:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    doc = {
        "generated_by": "scripts/reference/make_model_golden.py (reference: scripts/reference/litgpt_model.py)",
        "torch_version": torch.__version__,
        "cases": [run_case(n, cfg) for n, cfg in CASES],
    }
    text = dump(doc) + "\n"
    back = json.loads(text)  # valid JSON, numbers read back exactly
    for case, got in zip(doc["cases"], back["cases"]):
        for pname, t in case["weights"].items():
            assert [np.float32(v) for v in got["weights"][pname]["data"]] == [np.float32(float(s)) for s in t["data"].items]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUT, ROOT)}: {len(text.encode()) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
