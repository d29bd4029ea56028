#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that has the CUDA driver and libraries but no
# Rust, Node or network, into gpu-bundle/ (git-ignored): the node binary (xz), the CUDA addon (xz), the
# runtime npm packages, and a prepared poetry dataset. Run after `npm run build:cuda`.
# Carry gpu-bundle, dist and configs' neighbours with it: the device tool's `carry: ["gpu-bundle", "dist"]`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
addon="$(ls native-cuda/*.node 2>/dev/null | head -1)"
[ -n "$addon" ] || { echo "no CUDA addon in native-cuda/: run npm run build:cuda first" >&2; exit 1; }
[ -f dist/index.js ] || npm run build:ts
rm -rf gpu-bundle && mkdir -p gpu-bundle
xz -T0 -9 -c "$(command -v node)" > gpu-bundle/node.xz
xz -T0 -9 -c "$addon" > "gpu-bundle/$(basename "$addon").xz"
# The runtime dependencies only (yaml, yargs and theirs), as npm installed them.
npm ls --omit=dev --all --parseable | tail -n +2 | sed "s|^$root/||" | while read -r dir; do
  mkdir -p "gpu-bundle/$(dirname "$dir")"
  cp -r "$dir" "gpu-bundle/$dir"
done
# 20,000 Tang/Song poems tokenized with the reference tokenizer: real text, so the CPU and GPU curves
# mean something, and small (int16 shards of about 3 MB). A tenth is held out: enough validation
# windows for the check to time forward passes.
node --input-type=module -e "
  import { writeParquetTexts } from './dist/index.js';
  import { poems } from './dist/data/sample-corpus.js';
  import fs from 'node:fs';
  fs.mkdirSync('gpu-bundle/raw', { recursive: true });
  writeParquetTexts('gpu-bundle/raw/poems.parquet', [[...poems(20000)]]);"
node dist/cli/main.js prepare --input_dir gpu-bundle/raw --output_dir gpu-bundle/data \
  --tokenizer_path "${MINILM_TOKENIZER:-../shared/tokenizers/minimind-6400}" --val_fraction 0.1
rm -rf gpu-bundle/raw
# The fine-tuning check's data: poetry conversations (sft, LoRA) and author preference pairs (dpo).
node --input-type=module -e "
  import { writeAuthorPairs, writePoetryChat } from './dist/data/sample-chat.js';
  writePoetryChat('gpu-bundle/finetune/chat.jsonl', 600);
  writeAuthorPairs('gpu-bundle/finetune/pairs.jsonl', 600);"
git rev-parse --short HEAD > gpu-bundle/COMMIT
du -sh gpu-bundle dist
