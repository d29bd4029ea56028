#!/usr/bin/env bash
# lm-eval-harness itself on minilm's test items: exports the litgpt fixture checkpoint to Hugging Face and
# scores test/golden/eval's C-Eval and HellaSwag items with lm-eval's own prompts (lm_eval_tasks/: the
# ceval template, and hellaswag's process_docs imported from lm-eval). Compare the per-choice
# log-likelihoods in /tmp/lmeval-out/*/samples_*.jsonl with test/golden/eval/expected.json and with
# `npx minilm eval test/golden/litgpt/checkpoint --tasks ... --json`. Run by hand, from the repository
# root, in a throwaway venv:
#   python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch lm-eval transformers accelerate
#   bash scripts/reference/check_lm_eval.sh
set -euo pipefail
npx minilm export test/golden/litgpt/checkpoint --format hf --output_dir /tmp/hf-fixture
HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 /tmp/pyref/bin/lm_eval --model hf --model_args pretrained=/tmp/hf-fixture,dtype=float32 \
  --include_path scripts/reference/lm_eval_tasks --tasks ceval_local,hellaswag_local --device cpu --log_samples --output_path /tmp/lmeval-out
