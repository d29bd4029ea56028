#!/usr/bin/env bash
# `npm run build:cuda`: the CUDA variant of the addon (cargo feature `cuda`), built on a machine with no
# GPU, into native-cuda/ beside the CPU addon in native/ (which stays the default and needs no CUDA).
# Uses the toolkit of scripts/cuda/install-toolkit.sh (installed on first use) or CUDA_HOME if set.
# Kernels are compiled for CUDA_COMPUTE_CAP (default 90: H100 / H200).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ -z "${CUDA_HOME:-}" ]; then
  CUDA_HOME="${MINILM_CUDA_PREFIX:-$root/.cuda}/home"
  [ -x "$CUDA_HOME/bin/nvcc" ] || bash scripts/cuda/install-toolkit.sh
fi
export CUDA_HOME CUDA_PATH="$CUDA_HOME" PATH="$CUDA_HOME/bin:$PATH" NVCC="$CUDA_HOME/bin/nvcc"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
# cudarc picks its driver API bindings from this; 13000 = CUDA 13.0, what the H200 machines' driver runs.
export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
export LIBRARY_PATH="$CUDA_HOME/lib64:$CUDA_HOME/lib64/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
# Its own target folder: the CUDA build's candle differs from the CPU build's, and sharing one folder
# would rebuild each after the other.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/minilm/target}-cuda"
npx napi build --platform --release --features cuda --manifest-path crates/minilm-node/Cargo.toml \
  --output-dir native-cuda --dts index.d.ts --no-js --no-const-enum
echo "built $(ls native-cuda/*.node)"
