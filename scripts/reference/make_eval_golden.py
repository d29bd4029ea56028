"""Golden values for `minilm eval`, computed independently in PyTorch: test/eval.test.ts checks minilm's
figures against them.

The model is test/golden/litgpt/checkpoint (a tiny model trained by litgpt itself, with the minimind-6400
tokenizer), run through scripts/reference/litgpt_model.py. The script writes into test/golden/eval/:
- held-out.jsonl: a few documents the model never saw (poems and English);
- ceval_val.csv and hellaswag.jsonl: multiple-choice items in C-Eval's and HellaSwag's layouts;
- expected.json: loss, bits per byte, tokens and bytes over held-out.jsonl, and every choice's
  log-likelihood.

How each figure is computed here, without minilm's code:
- ids: HF tokenizers' encode(text).ids per document, then EOS (the tokenizer adds no BOS), joined;
- windows of block_size + 1 tokens stepping by block_size, the last one shorter; each target's NLL from
  log_softmax over all padded_vocab_size logits, summed in float64;
- a token's bytes: its characters mapped back through GPT-2's byte-level alphabet (bytes_to_unicode);
  special tokens count 0 bytes and are left out of bits per byte (checked: a document's tokens stand for
  exactly its UTF-8 bytes);
- multiple choice: lm-eval-harness's own rules: the ceval prompt and " A".." D" continuations, the hellaswag
  preprocessing and " ending" continuations, and `_encode_pair` (context trailing spaces move to the
  continuation; the continuation's ids are those of context + continuation past the context's).

Run once by hand (never in CI), from the repository root:
    python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch numpy tokenizers pyyaml
    /tmp/pyref/bin/python scripts/reference/make_eval_golden.py
Last run with torch 2.x (CPU, float32 model, float64 sums) and tokenizers 0.2x.
"""

import csv
import json
import math
import os
import re
import sys

import torch
import yaml
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import litgpt_model as ref  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CHECKPOINT = os.path.join(ROOT, "test", "golden", "litgpt", "checkpoint")
OUT = os.path.join(ROOT, "test", "golden", "eval")

DOCUMENTS = [
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。\n红豆生南国，春来发几枝。愿君多采撷，此物最相思。",
    "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election "
    "produced no evidence that any irregularities took place.",
    "千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。" * 3,
]

CEVAL = [
    {"id": "0", "question": "“床前明月光”的下一句是", "A": "疑是地上霜", "B": "白日依山尽", "C": "春眠不觉晓", "D": "红豆生南国", "answer": "A", "explanation": ""},
    {"id": "1", "question": "“春眠不觉晓”的作者是", "A": "李白", "B": "杜甫", "C": "孟浩然", "D": "王维", "answer": "C", "explanation": ""},
    {"id": "2", "question": "  一年有几个季节？ ", "A": "两个", "B": "三个", "C": "四个", "D": "五个", "answer": "C", "explanation": "春夏秋冬"},
]

HELLASWAG = [
    {"ind": 4, "activity_label": "Removing ice from car", "ctx_a": "Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles.",
     "ctx_b": "then", "ctx": "", "endings": [", the man adds wax to the windshield and cuts it.", ", a person board a ski lift, while two men supporting the head of the person wearing winter clothes snow as the we girls sled.",
                                            ", the man puts on a christmas coat, knitted with netting.", ", the man continues removing the snow on his car."], "label": "3"},
    {"ind": 9, "activity_label": "Home and Garden", "ctx_a": "[header] How to grow roses [title] Pick a sunny spot.", "ctx_b": "roses NEED six hours of sun",
     "ctx": "", "endings": ["a day [step] Water them well.", "in the [substeps] dark cellar.", "every  year, at least.", "or they turn blue."], "label": "0"},
]


def bytes_to_unicode():
    """GPT-2's byte-level alphabet: byte -> printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def token_bytes(tok: Tokenizer, size: int) -> list[int]:
    decoder = {c: b for b, c in bytes_to_unicode().items()}
    special = {t.content for t in tok.get_added_tokens_decoder().values() if t.special}
    out = []
    for i in range(size):
        token = tok.id_to_token(i)
        if token is None or token in special:
            out.append(0)
        else:
            out.append(len(bytes(decoder[c] for c in token)))
    return out


def load_model():
    with open(os.path.join(CHECKPOINT, "model_config.yaml")) as f:
        raw = yaml.safe_load(f)
    keys = ["block_size", "vocab_size", "padded_vocab_size", "n_layer", "n_head", "n_embd", "head_size", "n_query_groups",
            "rotary_percentage", "rope_base", "norm_eps", "intermediate_size"]
    c = ref.make_config(**{k: raw[k] for k in keys}, tie_embeddings=bool(raw.get("tie_embeddings", False)))
    model = ref.GPT(c)
    state = torch.load(os.path.join(CHECKPOINT, "lit_model.pth"), map_location="cpu", weights_only=False)["model"]
    model.load_state_dict(state, strict=False)
    model.eval()
    return model, c


def target_logprobs(model, ids: list[int]) -> list[float]:
    """log p(ids[i+1] | ids[..=i]) for each i, in one forward pass (len(ids) - 1 <= block_size)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids[:-1]]))[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    return [logp[i, ids[i + 1]].item() for i in range(len(ids) - 1)]


def preprocess(text: str) -> str:
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def encode_pair(tok: Tokenizer, context: str, continuation: str):
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tok.encode(context + continuation, add_special_tokens=False).ids
    context_ids = tok.encode(context, add_special_tokens=False).ids
    return context_ids, whole[len(context_ids):]


def loglikelihood(model, block: int, context_ids, continuation_ids) -> float:
    ids = (context_ids + continuation_ids)[-(block + 1):]
    logp = target_logprobs(model, ids)
    return sum(logp[-len(continuation_ids):])


def main() -> None:
    torch.set_num_threads(1)
    model, c = load_model()
    tok = Tokenizer.from_file(os.path.join(CHECKPOINT, "tokenizer.json"))
    eos = tok.token_to_id("</s>")
    table = token_bytes(tok, c["padded_vocab_size"])
    os.makedirs(OUT, exist_ok=True)

    with open(os.path.join(OUT, "held-out.jsonl"), "w", encoding="utf-8") as f:
        for text in DOCUMENTS:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    stream = []
    for text in DOCUMENTS:
        ids = tok.encode(text).ids
        assert sum(table[i] for i in ids) == len(text.encode("utf-8")), text
        stream += ids + [eos]
    block = c["block_size"]
    nll = text_nll = 0.0
    tokens = nbytes = 0
    for start in range(0, len(stream) - 1, block):
        window = stream[start:start + block + 1]
        for target, logp in zip(window[1:], target_logprobs(model, window)):
            nll -= logp
            tokens += 1
            if table[target] > 0:
                text_nll -= logp
                nbytes += table[target]
    data = {"tokens": tokens, "bytes": nbytes, "loss": nll / tokens, "bits_per_byte": text_nll / (math.log(2) * nbytes)}

    with open(os.path.join(OUT, "ceval_val.csv"), "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(CEVAL[0].keys()))
        writer.writeheader()
        writer.writerows(CEVAL)
    ceval = []
    for doc in CEVAL:
        context = f"{doc['question'].strip()}\nA. {doc['A']}\nB. {doc['B']}\nC. {doc['C']}\nD. {doc['D']}\n答案："
        ceval.append([loglikelihood(model, block, *encode_pair(tok, context, " " + letter)) for letter in "ABCD"])

    with open(os.path.join(OUT, "hellaswag.jsonl"), "w", encoding="utf-8") as f:
        for doc in HELLASWAG:
            f.write(json.dumps(doc) + "\n")
    hellaswag = []
    for doc in HELLASWAG:
        ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
        query = preprocess(doc["activity_label"] + ": " + ctx)
        hellaswag.append([loglikelihood(model, block, *encode_pair(tok, query, " " + preprocess(e))) for e in doc["endings"]])

    expected = {
        "made_by": "scripts/reference/make_eval_golden.py",
        "versions": {"torch": torch.__version__},
        "data": data,
        "ceval_loglikelihoods": ceval,
        "hellaswag_loglikelihoods": hellaswag,
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")
    print(json.dumps(data))


if __name__ == "__main__":
    main()
