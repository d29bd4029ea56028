# Writes crates/minilm-core/tests/golden/dpo.json: golden values for minilm's DPO loss, computed with
# PyTorch over scripts/reference/litgpt_model.py (the model the other goldens use, with the same
# deterministic weights as make_model_golden.py) and the DPO loss as TRL's DPOTrainer states it:
#
#   logps(reply) = sum over its scored tokens of log_softmax(logits)[target]   (IPO: the mean)
#   margin       = (policy chosen - policy rejected) - (reference chosen - reference rejected)
#   sigmoid      = -logsigmoid(beta * margin) * (1 - label_smoothing) - logsigmoid(-beta * margin) * label_smoothing
#   ipo          = (margin - 1 / (2 * beta)) ** 2
#   loss         = the mean over the pairs
#
# For each tiny config: two pairs of sequences of different lengths (prompt tokens masked out of the
# reply), reference log-probabilities near the policy's own (so the loss and its gradient are not
# trivial), and for three settings (sigmoid, sigmoid with label smoothing, ipo) the loss, each pair's
# rewards (beta * (policy - reference)) and the gradient of every parameter.
#
# Run it once by hand (never in CI), from the repository root:
#   python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch numpy
#   /tmp/pyref/bin/python scripts/reference/make_dpo_golden.py
# Last run with torch 2.15.0 (CPU, float32, one thread, deterministic algorithms).

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import litgpt_model as ref  # noqa: E402
import make_model_golden as golden  # noqa: E402

OUT = os.path.join(golden.ROOT, "crates", "minilm-core", "tests", "golden", "dpo.json")

# (length, prompt tokens) of [chosen 0, rejected 0, chosen 1, rejected 1]; a pair shares its prompt.
SEQUENCES = [(9, 3), (7, 3), (12, 5), (10, 5)]
SETTINGS = [
    dict(loss_type="sigmoid", beta=0.1, label_smoothing=0.0),
    dict(loss_type="sigmoid", beta=0.5, label_smoothing=0.2),
    dict(loss_type="ipo", beta=0.1, label_smoothing=0.0),
]
# Added to the policy's own log-probabilities to make the reference's: the pairs start off the reference.
REFERENCE_OFFSETS = [0.75, -0.5, -1.25, 0.5]


def sequences(vocab: int) -> list[tuple[list[int], list[int]]]:
    out = []
    for s, (length, prompt) in enumerate(SEQUENCES):
        pair = s // 2
        # A pair's prompt is the same; the replies differ.
        ids = [(5 + 11 * pair + 3 * t) % vocab if t < prompt else (7 + 13 * s + 5 * t) % vocab for t in range(length)]
        mask = [0 if t < prompt else 1 for t in range(length)]
        out.append((ids, mask))
    return out


def reply_logps(model: ref.GPT, seqs, average: bool) -> torch.Tensor:
    width = max(len(ids) for ids, _ in seqs) - 1
    inputs = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, (ids, _) in enumerate(seqs):
        inputs[r, : len(ids) - 1] = torch.tensor(ids[:-1])
    logp = F.log_softmax(model(inputs), dim=-1)
    out = []
    for r, (ids, mask) in enumerate(seqs):
        terms = [logp[r, k, ids[k + 1]] for k in range(len(ids) - 1) if mask[k + 1] == 1]
        total = torch.stack(terms).sum()
        out.append(total / len(terms) if average else total)
    return torch.stack(out)


def run_case(name: str, cfg: dict) -> dict:
    c = ref.make_config(**cfg)
    seqs = sequences(c["vocab_size"])
    results = []
    for setting in SETTINGS:
        model = ref.GPT(c)
        golden.set_deterministic_weights(model)
        average = setting["loss_type"] == "ipo"
        policy = reply_logps(model, seqs, average)
        reference = policy.detach() + torch.tensor(REFERENCE_OFFSETS)
        pc, pr, rc, rr = policy[0::2], policy[1::2], reference[0::2], reference[1::2]
        margin = (pc - pr) - (rc - rr)
        beta, smoothing = setting["beta"], setting["label_smoothing"]
        if setting["loss_type"] == "sigmoid":
            losses = -F.logsigmoid(beta * margin) * (1 - smoothing) - F.logsigmoid(-beta * margin) * smoothing
        else:
            losses = (margin - 1 / (2 * beta)) ** 2
        loss = losses.mean()
        loss.backward()
        grads = {}
        for pname, p in ref.canonical_parameters(model):
            assert p.grad is not None and torch.count_nonzero(p.grad) > 0, f"{name}: zero grad for {pname}"
            grads[pname] = golden.tensor_json(p.grad)
        print(f"{name} {setting}: loss {float(loss):.6f}")
        results.append(
            dict(
                setting,
                reference_logps=[float(x) for x in reference],
                policy_logps=[float(x) for x in policy.detach()],
                loss=float(loss.detach()),
                chosen_rewards=[float(x) for x in beta * (pc - rc).detach()],
                rejected_rewards=[float(x) for x in beta * (pr - rr).detach()],
                grads=grads,
            )
        )
    return {"name": name, "sequences": [{"ids": ids, "mask": mask} for ids, mask in seqs], "settings": results}


def main() -> None:
    golden.write_cases(
        OUT,
        "scripts/reference/make_dpo_golden.py (reference: scripts/reference/litgpt_model.py; weights as in make_model_golden.py)",
        run_case,
    )


if __name__ == "__main__":
    main()
