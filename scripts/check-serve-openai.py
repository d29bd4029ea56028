"""Checks a running `minilm serve` with the official Python openai client, as a user would: eight
streaming completions one after another, then all at once (same prompts, half greedy, half seeded);
the texts must be identical, and the aggregate tokens/s of the concurrent run is printed against the
sequential one. /v1/models is timed while the eight run.

    minilm serve CHECKPOINT --port 8000 &
    python scripts/check-serve-openai.py --base_url http://127.0.0.1:8000/v1 --max_tokens 64
"""

import argparse
import asyncio
import time

from openai import AsyncOpenAI

PROMPTS = ["春眠不觉晓", "床前明月光", "白日依山尽", "千山鸟飞绝", "The old man", "It was a", "独在异乡为异客", "In the morning"]


async def stream(client, i, max_tokens):
    seeded = {"temperature": 1.0, "seed": 100 + i} if i % 2 else {"temperature": 0.0}
    text, tokens = "", 0
    response = await client.completions.create(
        model="m", prompt=PROMPTS[i], max_tokens=max_tokens, stream=True, stream_options={"include_usage": True}, **seeded
    )
    async for chunk in response:
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
        if chunk.choices:
            text += chunk.choices[0].text
    return text, tokens


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base_url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--max_tokens", type=int, default=64)
    args = parser.parse_args()
    client = AsyncOpenAI(base_url=args.base_url, api_key="none", max_retries=0)
    await stream(client, 0, 4)  # warm-up

    started = time.perf_counter()
    alone = [await stream(client, i, args.max_tokens) for i in range(len(PROMPTS))]
    alone_s = time.perf_counter() - started

    async def models_latency():
        await asyncio.sleep(0.5)
        t = time.perf_counter()
        await client.models.list()
        return (time.perf_counter() - t) * 1000

    started = time.perf_counter()
    *together, models_ms = await asyncio.gather(*[stream(client, i, args.max_tokens) for i in range(len(PROMPTS))], models_latency())
    together_s = time.perf_counter() - started

    same = [a[0] == b[0] for a, b in zip(alone, together)]
    tokens = sum(t for _, t in together)
    print(f"identical texts alone and together: {sum(same)} of {len(same)}")
    print(f"one after another: {sum(t for _, t in alone)} tokens in {alone_s:.2f} s = {sum(t for _, t in alone) / alone_s:.1f} tokens/s")
    print(f"all at once:       {tokens} tokens in {together_s:.2f} s = {tokens / together_s:.1f} tokens/s")
    print(f"speed-up: {(tokens / together_s) / (sum(t for _, t in alone) / alone_s):.2f}x; /v1/models during the run: {models_ms:.0f} ms")
    if not all(same):
        raise SystemExit("a request's text changed when it ran beside others")


asyncio.run(main())
