#!/usr/bin/env bash
# Compiles every kernel file (*.cu) in KERNEL_DIR as host C++ under the CPU emulator (emulator/), with
# AddressSanitizer unless MINILM_EMULATOR_ASAN=0, into one shared library that the kernel test loads.
# The one place this compile is spelled out: build.rs calls it for the real kernels, and
# scripts/kernels/plant-bugs.sh for copies with a bug planted.
#
#   bash build-kernels.sh KERNEL_DIR OUT.so
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
kernels="$1"
out="$2"
flags=(-std=c++17 -O1 -g -fPIC -shared -fno-strict-aliasing -Wall -Wno-unused-function -Wno-sign-compare)
if [ "${MINILM_EMULATOR_ASAN:-1}" != 0 ]; then flags+=(-fsanitize=address -fno-omit-frame-pointer); fi
# Each .cu file is its own translation unit, as nvcc compiles it (a file's helpers stay its own).
sources=()
for cu in "$kernels"/*.cu; do sources+=(-x c++ "$cu"); done
"${CXX:-c++}" "${flags[@]}" -I "$here/emulator" -include cuda_emulator.h -I "$kernels" \
  "${sources[@]}" -x c++ "$here/emulator/runtime.cpp" -o "$out"
