#!/usr/bin/env bash
# `npm run test:pack`: minilm as a user installs it from npm, checked on this machine without a registry.
# Packs `minilm` and this machine's addon package (npm/<platform>/, plus npm/<platform>-cuda/ when
# native-cuda/ holds a CUDA build) the way .github/workflows/release.yml publishes them, installs the
# tarballs into an empty folder with cargo hidden from PATH, then runs `npx minilm --help`, a tiny
# prepare -> pretrain -> generate, a TypeScript import of the package's types, and the error a user gets
# when the addon package is missing. About a minute on 2 cores; not part of `npm test`.
# Needs the CPU addon (`npm run build:native`) and a clone's dev dependencies (`npm install`). The built
# addon and dist/ of this checkout are not touched: dist is compiled afresh into the staging folder.
# KEEP=1 keeps the temporary folder (printed at the start).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
started=$SECONDS
step() { printf '\n== [%3ss] %s\n' "$((SECONDS - started))" "$*"; }
fail() { printf 'pack-test FAILED: %s\n' "$*" >&2; exit 1; }

addon="$(ls native/minilm.*.node 2>/dev/null | head -1 || true)"
[ -n "$addon" ] || fail "no addon in native/: run \`npm run build:native\` first"
platform="$(basename "$addon" .node)"
platform="${platform#minilm.}"
[ -f "npm/$platform/package.json" ] || fail "npm/$platform/ is not a package (napi.targets in package.json, \`npx napi create-npm-dirs\`)"
cuda_addon="native-cuda/minilm.$platform.node"
[ -f "$cuda_addon" ] && [ -f "npm/$platform-cuda/package.json" ] || cuda_addon=""
version="$(node -p "require('./package.json').version")"
shared=""
for dir in "${MINILM_SHARED_DIR:-}" "$root/../shared" /work/shared; do
  if [ -n "$dir" ] && [ -f "$dir/tokenizers/minimind-6400/tokenizer.json" ]; then shared="$(cd "$dir" && pwd)"; break; fi
done
[ -n "$shared" ] || fail "cannot find the shared folder with tokenizers/minimind-6400 (set MINILM_SHARED_DIR)"
[ -d node_modules/chinese-poetry ] || fail "node_modules/chinese-poetry is missing: run \`npm install\` in the clone"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/minilm-pack-test.XXXXXX")"
if [ "${KEEP:-}" = 1 ]; then echo "keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
stage="$tmp/stage" tarballs="$tmp/tarballs" app="$tmp/app"
mkdir -p "$stage" "$tarballs" "$app"

step "stage a checkout: the repository's files, dist/ compiled afresh, the addon in npm/$platform/"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$stage"
mkdir -p "$stage/native"
cp native/index.d.ts "$stage/native/"
node_modules/.bin/tsc -p tsconfig.json --outDir "$stage/dist"
cp "$addon" "$stage/npm/$platform/"
[ -z "$cuda_addon" ] || cp "$cuda_addon" "$stage/npm/$platform-cuda/"

step "what the release does before \`npm publish\` (keep in step with .github/workflows/release.yml)"
# napi pre-publish writes the optionalDependencies of every configured target; here only this machine's
# is built, so it runs with a config that names that one target. It reads the last commit's message.
( cd "$stage"
  PLATFORM="$platform" OUT="$tmp/napi-local.json" node -e "
    const { parseTriple } = require('$root/node_modules/@napi-rs/cli');
    const napi = require('./package.json').napi;
    const targets = napi.targets.filter((t) => parseTriple(t).platformArchABI === process.env.PLATFORM);
    if (targets.length !== 1) throw new Error('napi.targets in package.json does not name ' + process.env.PLATFORM);
    require('fs').writeFileSync(process.env.OUT, JSON.stringify({ ...napi, targets }));"
  git init -q && git -c user.name=pack-test -c user.email=pack-test@localhost commit -q --allow-empty -m "pack-test stage"
  if ! "$root/node_modules/.bin/napi" pre-publish -t npm --skip-optional-publish -c "$tmp/napi-local.json" >"$tmp/pre-publish.log" 2>&1; then
    cat "$tmp/pre-publish.log"; fail "napi pre-publish failed"
  fi
  grep -v 'NAPI-RS config file will be used' "$tmp/pre-publish.log" || true
  [ -z "$cuda_addon" ] || npm pkg set "optionalDependencies.minilm-$platform-cuda=$version"
  npm pkg delete scripts.prepare )
node -e "const o=require('$stage/package.json').optionalDependencies||{}; if(o['minilm-$platform']!=='$version') { console.error('optionalDependencies:', o); process.exit(1) }" ||
  fail "the staged package.json does not list minilm-$platform@$version in optionalDependencies"

step "npm pack every package"
pack() { (cd "$1" && npm pack --ignore-scripts --silent --pack-destination "$tarballs" >/dev/null); }
pack "$stage"
pack "$stage/npm/$platform"
[ -z "$cuda_addon" ] || pack "$stage/npm/$platform-cuda"
main_tgz="$tarballs/minilm-$version.tgz"
contents="$(tar -tzf "$main_tgz")"
for f in package/dist/cli/main.js package/dist/index.js package/dist/index.d.ts package/native/index.d.ts package/README.md package/docs/pretrain.md package/configs/quickstart.yaml; do
  grep -qx "$f" <<<"$contents" || fail "minilm's tarball lacks $f"
done
if grep -E '^package/(crates|ts|test|scripts|node_modules|target|npm|native-cuda)/|\.node$|\.map$' <<<"$contents"; then
  fail "minilm's tarball holds the files above, which users do not need"
fi
tar -tzf "$tarballs/minilm-$platform-$version.tgz" | grep -qx "package/minilm.$platform.node" || fail "minilm-$platform's tarball lacks the addon"
ls -l "$tarballs" | awk 'NR > 1 { printf "  %-40s %8.1f KB\n", $NF, $5 / 1024 }'

step "install the tarballs into an empty folder, cargo hidden from PATH"
path=""
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do [ -x "$d/cargo" ] || [ -x "$d/rustc" ] || path="${path:+$path:}$d"; done
export PATH="$path"
hash -r
if command -v cargo >/dev/null || command -v rustc >/dev/null; then fail "cargo is still on PATH"; fi
unset MINILM_NATIVE_LIBRARY_PATH MINILM_DEVICE
cd "$app"
echo '{ "name": "pack-test-app", "private": true }' >package.json
npm install --no-audit --no-fund --foreground-scripts --prefer-offline "$tarballs"/*.tgz 2>&1 | tee "$tmp/install.log"
if grep -E 'minilm@[^ ]* (prepare|preinstall|install|postinstall)|napi build|cargo|install scripts not yet covered' "$tmp/install.log"; then
  fail "installing minilm ran (or would run) a build script"
fi
[ -f "node_modules/minilm-$platform/minilm.$platform.node" ] || fail "npm did not install minilm-$platform"
if ls node_modules/minilm/native/*.node 2>/dev/null; then fail "minilm itself holds an addon"; fi

step "npx minilm --help"
[ -x node_modules/.bin/minilm ] || fail "npm linked no minilm command into node_modules/.bin"
help="$(npx minilm --help)"
echo "$help"
for cmd in prepare pretrain generate; do grep -q "minilm $cmd" <<<"$help" || fail "--help does not list $cmd"; done

step "a tiny prepare -> pretrain -> generate"
mkdir raw
# 3,000 Tang poems from the clone's chinese-poetry (a dev dependency: the installed package has no corpus).
node -e '
  const fs = require("fs"), dir = process.argv[1] + "/node_modules/chinese-poetry/dist/quantangshi/";
  const lines = [];
  for (const n of [0, 1000, 2000]) for (const p of require(dir + "poet.tang." + n + ".json")) lines.push(JSON.stringify({ text: [p.title, ...p.paragraphs].join("\n") }));
  fs.writeFileSync("raw/poems.jsonl", lines.join("\n") + "\n");' "$root"
npx --no -- minilm prepare --input_dir raw --output_dir prepared --tokenizer_path "$shared/tokenizers/minimind-6400" --val_fraction 0.05
cat >tiny.yaml <<'EOF'
model_config:
  name: tiny
  block_size: 64
  vocab_size: 6400
  padded_vocab_size: 6400
  n_layer: 2
  n_head: 4
  n_query_groups: 2
  n_embd: 64
  rotary_percentage: 1.0
  parallel_residual: false
  bias: false
  norm_class_name: RMSNorm
  mlp_class_name: LLaMAMLP
  intermediate_size: 128
out_dir: out
precision: 32-true
data:
  class_path: litgpt.data.LitData
  init_args:
    data_path: prepared
train:
  save_interval: 10
  log_interval: 5
  global_batch_size: 16
  micro_batch_size: 8
  lr_warmup_steps: 3
  max_tokens: 20480
  tie_embeddings: true
  max_norm: 1.0
  min_lr: 0.0001
eval:
  interval: 10
  max_iters: 4
  final_validation: true
optimizer:
  class_path: torch.optim.AdamW
  init_args:
    lr: 0.003
    weight_decay: 0.1
    betas: [0.9, 0.95]
logger_name: csv
seed: 42
EOF
npx --no -- minilm pretrain --config tiny.yaml
[ -f out/final/model.safetensors ] || fail "pretrain wrote no out/final/model.safetensors"
sample="$(npx --no -- minilm generate out/final --prompt 床前明月光 --max_new_tokens 20 --seed 7)"
echo "$sample"
grep -q '^床前明月光.' <<<"$sample" || fail "generate printed no continuation of the prompt"

step "the package as a library: its types (tsc) and its exports (node)"
cat >check.ts <<'EOF'
import { Model, prepare, type PretrainConfig } from 'minilm';
const model: Promise<Model> = Model.load('out/final');
export { model, prepare };
export type Config = PretrainConfig;
EOF
echo '{ "compilerOptions": { "module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2022", "strict": true, "noEmit": true, "types": [] }, "files": ["check.ts"] }' >tsconfig.json
node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json || fail "the package's type declarations do not compile"
node --input-type=module -e "const m = await import('minilm'); if (typeof m.Model?.load !== 'function') process.exit(1); console.log('exports:', Object.keys(m).sort().join(' '))"

if [ -n "$cuda_addon" ] && [ ! -e /dev/nvidia0 ]; then
  step "no GPU here: the CUDA package is tried first, and its failure is the reason --device cuda gives"
  if out="$(npx --no -- minilm generate out/final --max_new_tokens 2 --device cuda 2>&1)"; then fail "--device cuda ran without a GPU"; fi
  echo "$out"
  grep -q 'libcuda' <<<"$out" || fail "--device cuda did not say that the CUDA package found no driver"
fi

step "without the addon package (npm install --omit=optional), the error names both ways out"
mkdir aside
mv node_modules/minilm-"$platform"* aside/
if out="$(npx --no -- minilm inspect prepared 2>&1)"; then fail "minilm ran without its addon"; fi
mv aside/* node_modules/
echo "$out"
for what in "minilm-$platform" cargo 'npm install'; do grep -qF "$what" <<<"$out" || fail "the missing-addon error does not name $what"; done

step "pack-test passed in $((SECONDS - started))s"
