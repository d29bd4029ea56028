# Checks a LoRA checkpoint and its merged Hugging Face export against two PyTorch computations, by hand
# (never in CI): the logits of
#   - PyTorch's unmerged LoRA: scripts/reference/litgpt_model.py with the base checkpoint's weights and each
#     adapted nn.Linear wrapped as make_lora_golden.py wraps it (x W^T + s x A^T B^T),
#   - transformers' LlamaForCausalLM over `minilm export --format hf` of the LoRA checkpoint (merged),
#   - minilm itself (Model.load of the LoRA folder: base plus adapters, merged at load),
# over the same ids, every position, and prints the largest differences.
#
#   /tmp/pyref/bin/pip install torch transformers safetensors pyyaml numpy
#   npx minilm export out/lora-sft/final --format hf --output_dir out/lora-hf
#   /tmp/pyref/bin/python scripts/reference/check_lora_export.py out/lora-sft/final out/lora-hf

import json
import os
import subprocess
import sys

import torch
import yaml
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import litgpt_model as ref  # noqa: E402
from make_lora_golden import LoRALinear  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CONFIG_KEYS = ["block_size", "vocab_size", "padded_vocab_size", "n_layer", "n_head", "n_embd", "head_size",
               "n_query_groups", "rotary_percentage", "rope_base", "norm_eps", "intermediate_size"]


def unmerged_model(lora_dir: str) -> tuple[ref.GPT, ref.GPT, int]:
    """The base model alone, the base with the adapters unmerged, and the vocabulary size."""
    lora = json.load(open(os.path.join(lora_dir, "lora.json")))
    base = lora["base"]["dir"]
    config = yaml.safe_load(open(os.path.join(base, "model_config.yaml")))
    hyper = yaml.safe_load(open(os.path.join(base, "hyperparameters.yaml")))
    c = ref.make_config(**{k: config[k] for k in CONFIG_KEYS}, tie_embeddings=bool(hyper["train"].get("tie_embeddings")))
    weights = load_file(os.path.join(base, "model.safetensors"))

    def base_model() -> ref.GPT:
        model = ref.GPT(c)
        with torch.no_grad():
            for name, p in ref.canonical_parameters(model):
                p.copy_(weights[name])
        return model.eval()

    model = base_model()
    adapters = load_file(os.path.join(lora_dir, "lora.safetensors"))
    for name in sorted({k.rsplit(".", 1)[0] for k in adapters}):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        layer = LoRALinear(getattr(parent, child), lora["r"], lora["alpha"], 0)
        with torch.no_grad():
            layer.lora_A.copy_(adapters[f"{name}.lora_A"])
            layer.lora_B.copy_(adapters[f"{name}.lora_B"])
        setattr(parent, child, layer)
    return base_model(), model.eval(), c["vocab_size"]


def minilm_logits(lora_dir: str, ids: list[int]) -> torch.Tensor:
    """The logits after each prefix of `ids`, from minilm's library (dist/)."""
    script = (
        "import { Model } from './dist/index.js';"
        f"const model = await Model.load({json.dumps(os.path.abspath(lora_dir))});"
        f"const ids = {json.dumps(ids)};"
        "const rows = ids.map((_, i) => Array.from(model.nextTokenLogits(ids.slice(0, i + 1))));"
        "process.stdout.write(JSON.stringify(rows));"
    )
    out = subprocess.run(["node", "--input-type=module", "-e", script], cwd=ROOT, check=True, capture_output=True, text=True)
    return torch.tensor(json.loads(out.stdout))


def main() -> None:
    lora_dir, hf_dir = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    base, model, vocab = unmerged_model(lora_dir)
    ids = [(37 * t + 11) % vocab for t in range(24)]
    with torch.no_grad():
        unmerged = model(torch.tensor([ids]))[0]
        moved = (unmerged - base(torch.tensor([ids]))[0]).abs().max().item()
        merged = LlamaForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32).eval()(torch.tensor([ids])).logits[0]
    ours = minilm_logits(lora_dir, ids)
    width = min(unmerged.shape[-1], merged.shape[-1], ours.shape[-1])
    unmerged, merged, ours = unmerged[:, :width], merged[:, :width], ours[:, :width]
    scale = unmerged.abs().max().item()
    print(f"the adapters move the base's logits by up to {moved:.3f}")
    for name, a, b in [("transformers (merged export) vs PyTorch unmerged LoRA", merged, unmerged),
                       ("minilm (base + adapters) vs PyTorch unmerged LoRA", ours, unmerged),
                       ("minilm vs transformers (merged export)", ours, merged)]:
        print(f"{name}: max |difference| {(a - b).abs().max().item():.3e} (largest |logit| {scale:.2f})")


if __name__ == "__main__":
    main()
