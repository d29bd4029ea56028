#!/usr/bin/env bash
# Installs what `npm run build:cuda` needs on a machine with no GPU and no system CUDA: nvcc and the CUDA
# 13.0 libraries candle's `cuda` feature links against, NCCL among them (its `nccl` feature, for
# data-parallel GPU ranks), from NVIDIA's PyPI wheels, into a project-local folder (default .cuda/,
# git-ignored; nothing system-wide), laid out like a CUDA_HOME, plus a stub libcuda.so to link against
# (the real one comes with the GPU driver at run time).
#
#   bash scripts/cuda/install-toolkit.sh          # about 1.4 GB download, once
#
# 13.0 is pinned: the H200 machines' driver (580) runs CUDA 13.0 and may reject PTX from a newer nvcc.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="${MINILM_CUDA_PREFIX:-$root/.cuda}"
packages=(
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-cccl==13.0.85
  nvidia-cuda-runtime==13.0.96 nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35 nvidia-cuda-nvrtc==13.0.88
  nvidia-nccl-cu13==2.30.7
)

if [ ! -x "$prefix/venv/bin/pip" ]; then python3 -m venv "$prefix/venv"; fi
"$prefix/venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
wheels="$("$prefix/venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')"

# CUDA_HOME layout: bin/ include/ nvvm/ from the wheels; lib64/ with the unversioned names the linker
# looks for; lib64/stubs/libcuda.so, an empty shared object whose SONAME is the driver's.
home="$prefix/home"
rm -rf "$home"
mkdir -p "$home/lib64/stubs"
for dir in bin include nvvm; do ln -s "$wheels/$dir" "$home/$dir"; done
# NCCL's wheel keeps its library apart, under nvidia/nccl (2.30: the version cudarc's bindings name).
nccl="$(dirname "$wheels")/nccl"
for lib in "$wheels"/lib/*.so.* "$nccl"/lib/*.so.*; do
  name="$(basename "$lib")"
  ln -s "$lib" "$home/lib64/$name"
  ln -sf "$lib" "$home/lib64/${name%%.so.*}.so"
done
echo 'void minilm_cuda_stub(void) {}' > "$home/lib64/stubs/stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$home/lib64/stubs/libcuda.so" "$home/lib64/stubs/stub.c"

"$home/bin/nvcc" --version | tail -2
echo "CUDA toolkit ready in $home (use: CUDA_HOME=$home)"
