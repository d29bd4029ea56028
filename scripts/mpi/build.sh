#!/usr/bin/env bash
# `npm run build:mpi`: the MPI variant of the addon (cargo feature `mpi`), into native-mpi/ beside the
# CPU addon in native/, which stays the default and needs no MPI. The ranks of a data-parallel run
# (`minilm pretrain --devices N`, or processes started by mpirun / srun) load it; docs/data-parallel.md.
# Needs an MPI library with its headers and mpicc, and libclang for the bindings (Debian/Ubuntu:
# apt install openmpi-bin libopenmpi-dev libclang-dev).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if ! command -v mpicc >/dev/null; then
  echo "npm run build:mpi needs MPI's compiler wrapper mpicc and headers: apt install openmpi-bin libopenmpi-dev libclang-dev (Debian/Ubuntu)" >&2
  exit 1
fi
# Its own target folder: sharing the CPU build's would relink each addon after the other.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/minilm/target}-mpi"
npx napi build --platform --release --features mpi --manifest-path crates/minilm-node/Cargo.toml \
  --output-dir native-mpi --dts index.d.ts --no-js --no-const-enum
echo "built $(ls native-mpi/*.node)"
