#!/usr/bin/env bash
# Registers, shared memory and spills of every minilm CUDA kernel, as ptxas reports them (nvcc -Xptxas -v)
# for the compute capability the addon is built for. Needs only the toolkit (scripts/cuda/install-toolkit.sh),
# no GPU. Exits 1 if any kernel spills registers to local memory, or if ptxas refuses a kernel (too much
# static shared memory, which the CPU emulator of npm run test:kernels cannot see).
#
#   bash scripts/cuda/ptxas-report.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
nvcc="${CUDA_HOME:-$root/.cuda/home}/bin/nvcc"
[ -x "$nvcc" ] || bash "$root/scripts/cuda/install-toolkit.sh" >/dev/null
arch="${CUDA_COMPUTE_CAP:-90}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
spills=0
printf '%-48s %9s %6s %s\n' kernel registers smem spills
for source in "$root"/crates/minilm-core/kernels/*.cu; do
  if ! "$nvcc" -cubin -O3 "-arch=sm_$arch" -Xptxas -v -o "$scratch/out.cubin" "$source" 2> "$scratch/log"; then
    grep -v '^ptxas info' "$scratch/log" >&2
    echo "nvcc / ptxas refused $(basename "$source")" >&2
    exit 1
  fi
  # ptxas prints, per entry function: "Compiling entry function 'NAME'", "N bytes stack frame, N bytes
  # spill stores, N bytes spill loads", then "Used N registers, ... N bytes smem".
  awk -v file="$(basename "$source")" '
    /Compiling entry function/ { match($0, /\x27[^\x27]+\x27/); name = substr($0, RSTART + 1, RLENGTH - 2) }
    /spill stores/ { stack = $1; stores = $5; loads = $9 }
    /Used [0-9]+ registers/ {
      match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART + 5, RLENGTH - 15)
      smem = 0; if (match($0, /[0-9]+ bytes smem/)) smem = substr($0, RSTART, RLENGTH - 11)
      printf "%-48s %9s %6s %s%s\n", name, regs, smem, (stores + loads > 0 ? "SPILLS " stores "/" loads " bytes" : "none"), (stack > 0 ? ", " stack " bytes of stack (local arrays)" : "")
    }' "$scratch/log"
  if grep -Eq '[1-9][0-9]* bytes spill (stores|loads)' "$scratch/log"; then spills=1; fi
done
[ "$spills" = 0 ] && echo "no kernel spills registers (sm_$arch)" || { echo "some kernels spill registers" >&2; exit 1; }
