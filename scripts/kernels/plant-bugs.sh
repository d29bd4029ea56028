#!/usr/bin/env bash
# `npm run test:kernels:planted`: shows that the emulated kernel check (npm run test:kernels) can fail.
# Each line below plants one bug in a copy of crates/minilm-core/kernels, builds the copy for the
# emulator, and runs the check on it; every planted bug must turn the check red. Prints one line per bug
# with the entry points it failed, and exits 1 if any bug went unnoticed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p minilm-kernel-emulator
runner="${CARGO_TARGET_DIR:-target}/release/minilm-kernel-emulator"

# file | sed expression | what the bug is
bugs=(
  "common.cuh|s/for (int offset = 16; offset > 0; offset >>= 1) v += /for (int offset = 16; offset > 1; offset >>= 1) v += /|a warp sum that skips its last step"
  "rms_norm.cu|0,/rsqrtf(/s//sqrtf(/|rsqrtf turned into sqrtf in the forward pass"
  "causal_softmax.cu|0,/(blockDim.x \/ 32)/s//(blockDim.x \/ 64)/|rows per block that no longer match the launch's warps"
  "cross_entropy.cu|s/for (int i = threadIdx.x; i < vocab; i += blockDim.x) sum += /for (int i = threadIdx.x; i < vocab; i += 2 * blockDim.x) sum += /|a block stride that skips half the row"
  "common.cuh|0,/  __syncthreads();  \/\/ scratch may still be read/s//  \/\/ scratch may still be read/|block_sum without its first __syncthreads"
  "cross_entropy.cu|s/partial\[threadIdx.x + stride\]/partial[threadIdx.x + 2 * stride]/|a read past the end of a __shared__ array"
  "embedding.cu|s/bucket_start\[token + 1\]/bucket_start[token + 2]/|a read past the end of a global buffer"
  "attention.cu|s/const float correction = __expf(m\[j\] - m_new);/const float correction = 1.f;/|flash attention's online softmax without its rescale"
  "attention.cu|s/if (first_key + j >= visible) break;/if (first_key + j > visible) break;/|the key gradients' causal mask one key too far"
  "heads.cu|s/const int half = rope_n \/ 2, pair/const int half = rope_n \/ 2 + 1, pair/|RoPE's halves split one element off"
)

missed=0
for bug in "${bugs[@]}"; do
  IFS='|' read -r file expression description <<<"$bug"
  rm -rf "$work/kernels" && cp -r crates/minilm-core/kernels "$work/kernels"
  sed -i "$expression" "$work/kernels/$file"
  if cmp -s "crates/minilm-core/kernels/$file" "$work/kernels/$file"; then
    echo "STALE  $description: the sed expression no longer matches $file"
    missed=1
    continue
  fi
  bash crates/minilm-kernel-emulator/build-kernels.sh "$work/kernels" "$work/planted.so"
  if "$runner" --kernels "$work/planted.so" >"$work/out.txt" 2>&1; then
    echo "MISSED $description ($file): the check still passes"
    missed=1
  else
    failed="$(grep -c '^FAIL' "$work/out.txt" || true)"
    sanitizer="$(grep -m1 -o 'AddressSanitizer: [a-z-]*' "$work/out.txt" || true)"
    names="$(grep '^FAIL' "$work/out.txt" | awk '{print $2}' | head -4 | paste -sd, - || true)"
    echo "CAUGHT $description ($file): ${sanitizer:-$failed entry points failed${names:+: $names}}"
  fi
done
exit "$missed"
