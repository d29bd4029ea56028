#!/usr/bin/env bash
# The GPU check, in one go on a GPU machine with the CUDA 13 driver and libraries (the H200 machines' python
# has them as nvidia-* packages) and no Rust, Node or network. Prepare it where the tools are:
#   npm run build:cuda && bash scripts/cuda/bundle.sh
# then run it from the repository root on the GPU machine, with gpu-bundle/ and dist/ carried along:
#   bash scripts/gpu-check.sh [OUT_DIR]          # under 8 minutes; a table at the end, results.json in OUT_DIR
# It checks the GPU against the CPU on a tiny config, measures the reference config's training tokens/s,
# MFU and GPU memory, runs PyTorch on the same model as the peer, and times generation.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-out/gpu-check}}"
mkdir -p "$out"
[ -d gpu-bundle ] || { echo "gpu-bundle/ is missing: run npm run build:cuda && bash scripts/cuda/bundle.sh where Rust and Node are, and carry it" >&2; exit 1; }
[ -f dist/index.js ] || { echo "dist/ is missing: run npm run build:ts and carry it" >&2; exit 1; }

node=/tmp/minilm-node
xz -dc gpu-bundle/node.xz > "$node" && chmod +x "$node"
mkdir -p native-cuda
for f in gpu-bundle/*.node.xz; do xz -dc "$f" > "native-cuda/$(basename "${f%.xz}")"; done
[ -e node_modules ] || ln -s gpu-bundle/node_modules node_modules

# The CUDA 13 libraries the addon links (cuBLAS, cuBLASLt, cuRAND, NVRTC, the runtime) and NCCL, which
# data parallelism loads (PyTorch's nvidia-nccl package has it), from python's nvidia packages when the
# system has none on its library path.
python=$(command -v python3)
libs=$("$python" - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
dirs = set()
for root in roots:
    for name in ("libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libnvrtc.so.13", "libcudart.so.13", "libnccl.so.2"):
        for hit in glob.glob(os.path.join(root, "**", name), recursive=True):
            dirs.add(os.path.dirname(hit))
print(":".join(sorted(dirs)))
PY
)
# The driver's libcuda.so.1: usually on the loader's path already; these are where containers mount it.
for dir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu; do
  [ -e "$dir/libcuda.so.1" ] && libs="${libs:+$libs:}$dir" && break
done
export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "node $("$node" --version); CUDA libraries from: ${libs:-the system}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv 2>/dev/null || echo 'nvidia-smi: not available'
export GPU_CHECK_PYTHON="$python"
export GPU_CHECK_COMMIT="$(cat gpu-bundle/COMMIT 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo unknown)"

# The PyTorch peer: the same 108M model and micro-batch, bf16 autocast, eager (what litgpt runs).
# GPU_CHECK_PYTORCH_JSON=FILE reuses an earlier run's pytorch.json instead (a rerun saves its minute).
if [ -n "${GPU_CHECK_PYTORCH_JSON:-}" ]; then
  cp "$GPU_CHECK_PYTORCH_JSON" "$out/pytorch.json"
elif [ "${GPU_CHECK_DRY:-0}" != 1 ]; then
  timeout 150 "$python" scripts/bench-train-torch.py --device cuda --precision bf16-mixed --n_layer 16 --n_embd 768 \
    --n_head 16 --head_size 48 --n_query_groups 8 --intermediate_size 2048 --block_size 512 --micro_batch_size 80 \
    --steps 60 --warmup 5 --max_seconds 60 > "$out/pytorch.json" 2> "$out/pytorch.log" || echo "PyTorch peer failed: see $out/pytorch.log"
  # torch.compile too, when the device call has the time for its compilation (about a minute more).
  if [ "${GPU_CHECK_COMPILE:-0}" = 1 ]; then
    timeout 180 "$python" scripts/bench-train-torch.py --device cuda --precision bf16-mixed --n_layer 16 --n_embd 768 \
      --n_head 16 --head_size 48 --n_query_groups 8 --intermediate_size 2048 --block_size 512 --micro_batch_size 80 \
      --steps 60 --warmup 5 --max_seconds 40 --compile > "$out/pytorch-compile.json" 2> "$out/pytorch-compile.log" || echo "torch.compile peer failed: see $out/pytorch-compile.log"
  fi
fi
timeout 420 "$node" scripts/gpu-check.mjs "$out" "$out/pytorch.json" "$out/pytorch-compile.json" 2>&1 | tee "$out/check.log"
exit "${PIPESTATUS[0]}"
