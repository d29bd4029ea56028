"""A small litgpt checkpoint, made once by litgpt itself, and the logits litgpt computes with it.

minilm reads litgpt checkpoint folders (lit_model.pth + model_config.yaml) wherever it takes a checkpoint;
test/litgpt-checkpoint.test.ts checks that its logits match these. Run by hand, in a throwaway venv:

    python3 -m venv /tmp/litref && /tmp/litref/bin/pip install litgpt litdata requests
    npx minilm prepare --input_dir DIR_OF_POEMS --output_dir /tmp/lit-data --tokenizer_path ../shared/tokenizers/minimind-6400
    /tmp/litref/bin/python scripts/reference/make_litgpt_fixture.py /tmp/lit-data

It trains a 2-layer model for a few steps with `litgpt pretrain` (on the CPU, on minilm's litdata shards,
which litgpt reads with litgpt.data.LitData), copies out_dir/final into test/golden/litgpt/checkpoint and
writes test/golden/litgpt/logits.json.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import litgpt
import torch
import yaml
from litgpt import GPT, Config

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = ROOT.parent / "shared" / "tokenizers" / "minimind-6400"
OUT = ROOT / "test" / "golden" / "litgpt"


def main() -> None:
    data = Path(sys.argv[1]).resolve()
    work = Path(tempfile.mkdtemp(prefix="litgpt-fixture-"))
    config = {
        # Required by the command line; model_config below is what is trained.
        "model_name": "tiny-litgpt",
        "model_config": {
            "name": "tiny-litgpt",
            "block_size": 64,
            "vocab_size": 6400,
            "padded_vocab_size": 6400,
            "n_layer": 2,
            "n_head": 4,
            "n_query_groups": 2,
            "n_embd": 32,
            "rotary_percentage": 1.0,
            "parallel_residual": False,
            "bias": False,
            "norm_class_name": "RMSNorm",
            "mlp_class_name": "LLaMAMLP",
            "intermediate_size": 64,
        },
        "out_dir": str(work / "out"),
        "precision": "32-true",
        "data": {"class_path": "litgpt.data.LitData", "init_args": {"data_path": str(data), "split_names": ["train", "val"]}},
        "tokenizer_dir": str(TOKENIZER),
        "train": {
            "save_interval": 1000,
            "log_interval": 1,
            "global_batch_size": 4,
            "micro_batch_size": 4,
            "lr_warmup_steps": 1,
            "max_tokens": 4 * 64 * 6,
            "tie_embeddings": True,
            "max_norm": 1.0,
            "min_lr": 1e-4,
        },
        "eval": {"interval": 1000, "max_iters": 1, "initial_validation": False, "final_validation": False},
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "weight_decay": 0.1, "betas": [0.9, 0.95]}},
        "devices": 1,
        "logger_name": "csv",
        "seed": 42,
    }
    config_file = work / "pretrain.yaml"
    config_file.write_text(yaml.safe_dump(config))
    litgpt_cli = Path(sys.executable).parent / "litgpt"
    subprocess.run([str(litgpt_cli), "pretrain", "--config", str(config_file)], check=True)

    final = work / "out" / "final"
    checkpoint = OUT / "checkpoint"
    shutil.rmtree(checkpoint, ignore_errors=True)
    checkpoint.mkdir(parents=True)
    for name in ["lit_model.pth", "model_config.yaml", "hyperparameters.yaml", "tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(final / name, checkpoint / name)

    # litgpt's own forward pass on the saved weights.
    model_config = Config(**yaml.safe_load((final / "model_config.yaml").read_text()))
    model = GPT(model_config)
    saved = torch.load(final / "lit_model.pth", map_location="cpu")
    model.load_state_dict(saved.get("model", saved))
    model.eval()
    ids = torch.tensor([[1, 320, 275, 201, 3526, 370, 276, 3167, 2777, 303, 6091, 697, 33, 2]])
    with torch.no_grad():
        logits = model(ids)[0]
    (OUT / "logits.json").write_text(
        json.dumps(
            {
                "made_by": "scripts/reference/make_litgpt_fixture.py",
                "versions": {"litgpt": getattr(litgpt, "__version__", "0.5.13"), "torch": torch.__version__},
                "saved_keys": sorted(saved.keys()) if "model" in saved else ["(state dict)"],
                "ids": ids[0].tolist(),
                # Per position: the first 64 logits, and over the whole vocabulary the argmax and
                # log-sum-exp (so that every logit counts without storing 6400 per position).
                "logits_head": logits[:, :64].tolist(),
                "argmax": logits.argmax(-1).tolist(),
                "logsumexp": torch.logsumexp(logits, -1).tolist(),
            }
        )
    )
    print(f"wrote {checkpoint} and {OUT / 'logits.json'}")


if __name__ == "__main__":
    main()
