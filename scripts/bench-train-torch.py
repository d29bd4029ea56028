# The PyTorch peer of minilm's CPU training benchmark: the same LLaMA model (litgpt's math, via
# scripts/reference/litgpt_model.py with SDPA attention as litgpt uses), litgpt's init, random tokens, one
# micro-batch per optimizer step, AdamW + grad clipping, float32 on the CPU. Prints ONE JSON line on stdout:
#   {"framework":"pytorch","torch":...,"threads":...,"params":...,"tokens_per_sec":...,"step_ms":...,"peak_rss_mb":...}
# (plus a few human-readable lines on stderr). `--warmup` steps run first, untimed; then `--steps` steps
# are timed (wall clock); tokens/s = steps * micro_batch_size * block_size / time.
#
# Run by hand (never in CI):
#   python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch numpy
#   /tmp/pyref/bin/python scripts/bench-train-torch.py            # default: the pretrain issue's config
# The default config has 11,899,776 parameters tied (14,357,376 untied).

import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import litgpt_model as ref  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n_layer", type=int, default=6)
    ap.add_argument("--n_embd", type=int, default=384)
    ap.add_argument("--n_head", type=int, default=6)
    ap.add_argument("--head_size", type=int, default=64)
    ap.add_argument("--n_query_groups", type=int, default=2)
    ap.add_argument("--intermediate_size", type=int, default=1024)
    ap.add_argument("--vocab_size", type=int, default=6400)
    ap.add_argument("--block_size", type=int, default=256)
    ap.add_argument("--micro_batch_size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20, help="timed optimizer steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps before the timed ones")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads (default: all cores)")
    ap.add_argument("--tied", action=argparse.BooleanOptionalAction, default=True, help="tie wte and lm_head")
    ap.add_argument("--attn", choices=("sdpa", "math"), default="sdpa", help="sdpa = what litgpt calls")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max_norm", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the GPU check's PyTorch peer)")
    ap.add_argument("--precision", choices=("32-true", "bf16-mixed"), default="32-true",
                    help="bf16-mixed: autocast to bfloat16 over float32 weights, as Lightning does")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (its compile time is in the untimed warmup)")
    ap.add_argument("--max_seconds", type=float, default=None, help="stop timing after this long (the GPU check's budget)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    c = ref.make_config(
        n_layer=a.n_layer, n_embd=a.n_embd, n_head=a.n_head, head_size=a.head_size,
        n_query_groups=a.n_query_groups, intermediate_size=a.intermediate_size, vocab_size=a.vocab_size,
        padded_vocab_size=a.vocab_size, block_size=a.block_size, rotary_percentage=1.0, rope_base=10000,
        norm_eps=1e-5, tie_embeddings=a.tied,
    )
    model = ref.GPT(c, attn_impl=a.attn)
    ref.init_weights_litgpt(model)
    model.to(a.device)
    model.train()
    n_params = ref.num_parameters(model)
    if a.compile:
        model = torch.compile(model)
    opt = ref.make_adamw(model, lr=a.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)

    B, T = a.micro_batch_size, a.block_size
    n_total = a.warmup + a.steps
    g = torch.Generator().manual_seed(a.seed + 1)
    batches = torch.randint(0, a.vocab_size, (n_total, B, T + 1), generator=g).to(a.device)
    cuda = a.device.startswith("cuda")
    autocast = torch.autocast("cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16-mixed")

    print(f"pytorch {torch.__version__}, {a.threads} threads, {n_params:,} parameters "
          f"({'tied' if a.tied else 'untied'}), batch {B} x {T}, attn {a.attn}", file=sys.stderr)
    losses = []
    t0 = None
    timed = 0
    for i in range(n_total):
        if i == a.warmup:
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        with autocast:
            loss, _ = ref.train_step(model, opt, batches[i], a.max_norm)  # float(loss) syncs once a step
        losses.append(loss)
        if i >= a.warmup:
            timed += 1
        if i < a.warmup or (i - a.warmup) % 5 == 4 or i == n_total - 1:
            print(f"  step {i}: loss {loss:.4f}", file=sys.stderr)
        if t0 is not None and a.max_seconds is not None and time.perf_counter() - t0 > a.max_seconds:
            break
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB

    print(json.dumps({
        "framework": "pytorch",
        "torch": torch.__version__,
        "threads": a.threads,
        "params": n_params,
        "device": a.device,
        "precision": a.precision,
        "compiled": a.compile,
        "steps": timed,
        "tokens_per_sec": round(timed * B * T / elapsed, 1),
        "step_ms": round(1000 * elapsed / timed, 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
    }))


if __name__ == "__main__":
    main()
