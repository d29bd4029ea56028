"""The PyTorch peer of `npm run bench:generate`: transformers' LlamaForCausalLM (PyTorch eager, its KV
cache on) loaded from the `minilm export --format hf` folder of the same random model, greedy decoding
of the same prompt ids at batch 1. Prints ONE JSON line on stdout:
  {"torch":..., "transformers":..., "threads":..., "first_token_ms":..., "tokens_per_sec":..., "new_tokens":...}
tokens/s counts the tokens after the first over the time after the first, as minilm reports it.

Run by hand (never in CI): /tmp/pyref/bin/pip install torch transformers safetensors
"""
import argparse
import json
import time

import torch
import transformers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt_ids", required=True, help="a JSON list of token ids")
    ap.add_argument("--new_tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the GPU check's peer)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = transformers.LlamaForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32).eval().to(a.device)
    ids = torch.tensor([json.loads(a.prompt_ids)], device=a.device)
    settings = dict(do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None)

    def run(n):
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, **settings)
        return time.perf_counter() - start, out.shape[1] - ids.shape[1]

    run(4)  # warm-up
    first, _ = run(1)
    total, produced = run(a.new_tokens)
    print(json.dumps({
        "torch": torch.__version__, "transformers": transformers.__version__, "threads": a.threads, "device": a.device,
        "first_token_ms": first * 1000, "tokens_per_sec": (produced - 1) / (total - first), "new_tokens": produced,
    }))


if __name__ == "__main__":
    main()
