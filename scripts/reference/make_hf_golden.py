"""Golden logits of Hugging Face transformers on models `minilm export --format hf` wrote.

For two of tests/golden/tiny_llama.json's models (tied GQA; untied MQA, here with full RoPE because a
Hugging Face Llama rotates whole heads), this script writes a minilm checkpoint folder with those
weights, runs `node dist/cli/main.js export` on it, loads the result with transformers'
LlamaForCausalLM.from_pretrained, and records its logits and state-dict names. crates/minilm-core/
tests/core/model_golden.rs checks minilm's logits (and its export's names) against them.

    npm run build
    python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch transformers safetensors pyyaml
    /tmp/pyref/bin/python scripts/reference/make_hf_golden.py   # transformers 5.24.0, torch 2.15
"""
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
import transformers
import yaml
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "crates/minilm-core/tests/golden"
TOKENIZER = ROOT.parent / "shared/tokenizers/minimind-6400"


def checkpoint(case, rotary_percentage, folder):
    folder.mkdir(parents=True)
    tensors = {k: torch.tensor(v["data"], dtype=torch.float32).reshape(v["shape"]) for k, v in case["weights"].items()}
    save_file(tensors, str(folder / "model.safetensors"))
    c = dict(case["config"], rotary_percentage=rotary_percentage, name=case["name"])
    model_config = {k: c[k] for k in ("name", "block_size", "vocab_size", "padded_vocab_size", "n_layer", "n_head",
                                      "n_embd", "head_size", "n_query_groups", "rotary_percentage", "rope_base",
                                      "norm_eps", "intermediate_size")}
    model_config.update(norm_class_name="RMSNorm", mlp_class_name="LLaMAMLP", bias=False, parallel_residual=False)
    (folder / "model_config.yaml").write_text(yaml.safe_dump(model_config))
    (folder / "hyperparameters.yaml").write_text(yaml.safe_dump({"train": {"tie_embeddings": c["tie_embeddings"]}}))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOKENIZER / name, folder / name)


def main():
    torch.set_num_threads(1)
    cases = {c["name"]: c for c in json.loads((GOLDEN / "tiny_llama.json").read_text())["cases"]}
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, source, rotary in (("tied_gqa", "tied_gqa", 1.0), ("untied_mqa_full_rope", "untied_mqa_partial_rope", 1.0)):
            case = cases[source]
            ckpt, hf = Path(tmp) / name / "ckpt", Path(tmp) / name / "hf"
            checkpoint(case, rotary, ckpt)
            subprocess.run(["node", str(ROOT / "dist/cli/main.js"), "export", str(ckpt), "--output_dir", str(hf)], check=True)
            model = transformers.LlamaForCausalLM.from_pretrained(str(hf), torch_dtype=torch.float32).eval()
            ids = torch.tensor(case["input_ids"])[:, :-1]
            with torch.no_grad():
                logits = model(ids).logits
            out.append({
                "name": name,
                "source_case": source,
                "rotary_percentage": rotary,
                "input_ids": ids.tolist(),
                "state_dict_names": sorted(model.state_dict().keys()),
                "logits": {"shape": list(logits.shape), "data": logits.flatten().tolist()},
            })
    meta = {"transformers": transformers.__version__, "torch": torch.__version__}
    (GOLDEN / "hf_llama.json").write_text(json.dumps({"made_with": meta, "cases": out}))
    print(f"wrote {GOLDEN / 'hf_llama.json'} with {meta}")


if __name__ == "__main__":
    main()
