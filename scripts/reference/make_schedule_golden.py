"""The learning rate of every optimizer step, as litgpt's own code computes it, for test/schedule.test.ts.

Pretraining follows pretrain.py's fit(): each rank sets the rate from get_lr() per micro-batch and steps
the optimizer every gradient_accumulation_iters micro-batches, with max_iters and the warmup from TrainArgs.
Fine-tuning follows finetune/full.py: get_lr_scheduler() steps once per optimizer step. The loops below
repeat fit()'s order (set the rate, count the micro-batch, step when the count says so); everything else is
litgpt's. Run by hand, in a throwaway venv (last run 2026-12-04 with litgpt 0.5.13, torch 2.15.0):

    python3 -m venv /tmp/litref && /tmp/litref/bin/pip install litgpt
    /tmp/litref/bin/python scripts/reference/make_schedule_golden.py > test/golden/schedule.json
"""

import json

import torch
from litgpt.args import TrainArgs
from litgpt.finetune.full import get_lr_scheduler
from litgpt.pretrain import get_lr

SEQ_LEN = 64


def pretrain_rates(world, global_batch, micro, max_tokens, lr, min_lr, windows, warmup_steps=None, warmup_fraction=None):
    train = TrainArgs(
        global_batch_size=global_batch,
        micro_batch_size=micro,
        max_tokens=max_tokens,
        lr_warmup_steps=warmup_steps,
        lr_warmup_fraction=warmup_fraction,
        min_lr=min_lr,
    )
    # pretrain.py: max_tokens_per_device // tokens_per_iter micro-batches on each rank.
    max_iters = max_tokens // world // (micro * SEQ_LEN)
    # A rank's loader holds its share of the windows (litdata splits them over the ranks).
    loader = range(windows // world // micro)
    warmup_iters = train.warmup_iters(world, 1, max_iters, loader)
    accumulation = train.gradient_accumulation_iters(world, 1)
    rates, iter_num = [], 0
    while iter_num < max_iters:
        rate = get_lr(lr, iter_num, warmup_iters, max_iters, min_lr)
        iter_num += 1
        if iter_num % accumulation == 0:
            rates.append(rate)
    return rates


def finetune_rates(lr, warmup_steps, max_steps):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = get_lr_scheduler(optimizer, warmup_steps=warmup_steps, max_steps=max_steps)
    rates = []
    for _ in range(max_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


pretraining = dict(global_batch=16, max_tokens=16 * SEQ_LEN * 10, lr=3e-3, min_lr=3e-4, windows=4000)
cases = {
    "pretrain": [
        {"world": 1, "micro": 8, "warmup_steps": 3},
        {"world": 2, "micro": 4, "warmup_steps": 3},
        {"world": 2, "micro": 8, "warmup_steps": 3},
        {"world": 1, "micro": 4, "warmup_steps": 3},
        # An epoch of 25 micro-batches (longer than the run's 40), 30% of it rounded up: 8 micro-batches.
        {"world": 1, "micro": 4, "warmup_fraction": 0.3, "windows": 100},
        {"world": 2, "micro": 2, "warmup_fraction": 0.3, "windows": 100},
    ],
    "finetune": [
        {"lr": 2e-3, "warmup_steps": 3, "max_steps": 10},
        # A warmup longer than the run: the rate never peaks.
        {"lr": 2e-3, "warmup_steps": 100, "max_steps": 6},
    ],
}
for case in cases["pretrain"]:
    settings = {**pretraining, **case}
    case.update(settings, seq_len=SEQ_LEN, rates=pretrain_rates(**settings))
for case in cases["finetune"]:
    case["rates"] = finetune_rates(**case)
print(json.dumps(cases, indent=1))
