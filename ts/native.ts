// Loads the native addon: the CPU build of `npm run build:native` (native/minilm.<platform>.node), the
// CUDA build of `npm run build:cuda` (native-cuda/) where it loads, or in a rank of a data-parallel job
// the MPI build of `npm run build:mpi` (native-mpi/). MINILM_NATIVE_LIBRARY_PATH selects another file.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type * as Native from '../native/index.js';
import { ranksFromEnv } from './ranks.js';

export type NativeAddon = typeof Native;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The file name `napi build --platform` gives the addon on this machine, minilm.<platform>.node: the
 * platform (linux-x64-gnu, darwin-arm64, win32-x64-msvc, ...) also names its npm package, minilm-<platform>.
 */
function binaryName(): string {
  if (process.platform === 'linux') {
    const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
    const libc = report.header?.glibcVersionRuntime ? 'gnu' : 'musl';
    return `minilm.linux-${process.arch}-${libc}.node`;
  }
  if (process.platform === 'win32') return `minilm.win32-${process.arch}-msvc.node`;
  return `minilm.${process.platform}-${process.arch}.node`;
}

const cudaDir = path.join(root, 'native-cuda');

/** The MPI build of the addon (`npm run build:mpi`), or null where it is not built. */
export function mpiAddonFile(): string | null {
  const file = path.join(root, 'native-mpi', binaryName());
  return existsSync(file) ? file : null;
}
let cudaLoadError: string | null = null;

/**
 * The addon, the first of: MINILM_NATIVE_LIBRARY_PATH if set; unless MINILM_DEVICE=cpu, the CUDA addon
 * that loads (it needs the driver and the CUDA libraries), built here (`npm run build:cuda`, native-cuda/)
 * or else installed from npm (minilm-<platform>-cuda); the CPU build here (`npm run build:native`,
 * native/); the CPU addon installed from npm (minilm-<platform>, an optional dependency of minilm). The
 * CUDA build does everything the CPU one does, so one addon serves the whole process. A rank of an MPI
 * job (mpirun, srun) loads the MPI build first (`npm run build:mpi`, native-mpi/).
 */
function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  const explicit = process.env.MINILM_NATIVE_LIBRARY_PATH;
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`MINILM_NATIVE_LIBRARY_PATH names ${explicit}, which does not exist.`);
    return require(explicit) as NativeAddon;
  }
  // A rank of an MPI job: the build that speaks MPI (it has everything the CPU build has).
  const mpiFile = mpiAddonFile();
  const { launcher } = ranksFromEnv();
  if (mpiFile !== null && launcher !== null && launcher !== 'torchrun') {
    return require(mpiFile) as NativeAddon;
  }
  const file = binaryName();
  const platformPackage = `minilm-${file.slice('minilm.'.length, -'.node'.length)}`;
  // The file an installed package's `main` names, or null when npm did not install it.
  const installed = (name: string): string | null => {
    try {
      return require.resolve(name);
    } catch {
      return null;
    }
  };
  const localCuda = path.join(cudaDir, file);
  const cudaFile = process.env.MINILM_DEVICE === 'cpu' ? null : existsSync(localCuda) ? localCuda : installed(`${platformPackage}-cuda`);
  if (cudaFile) {
    try {
      return require(cudaFile) as NativeAddon;
    } catch (error) {
      // Typically the driver's libcuda.so.1, or a CUDA library, that the loader cannot find.
      const detail = (error as Error).message.split('\n')[0];
      cudaLoadError = /libcuda\.so/.test(detail)
        ? `no NVIDIA driver found (the CUDA addon needs libcuda.so.1: ${detail})`
        : `the CUDA addon ${cudaFile} does not load (${detail}); put the CUDA 13 libraries (cuBLAS, cuRAND) and NCCL (libnccl.so.2) on LD_LIBRARY_PATH, as scripts/gpu-check.sh does`;
    }
  }
  const localCpu = path.join(root, 'native', file);
  const cpuFile = existsSync(localCpu) ? localCpu : installed(platformPackage);
  if (!cpuFile) {
    throw new Error(
      `minilm's native addon is missing: npm did not install ${platformPackage} (the prebuilt addon, an optional dependency ` +
        `of minilm) and there is no build from source (${localCpu}). Either reinstall minilm so that npm fetches ` +
        `${platformPackage} (not with --omit=optional; it is published for linux-x64-gnu, linux-arm64-gnu, darwin-x64, ` +
        'darwin-arm64 and win32-x64-msvc), or build it from source: `npm install` (or `npm run build:native`) in a clone ' +
        'of minilm, with Rust (cargo) on the PATH.',
    );
  }
  return require(cpuFile) as NativeAddon;
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use so that `--help` works even before it is built. */
export function native(): NativeAddon {
  addon ??= load();
  return addon;
}

/** The GPU's total memory in bytes, or null where there is no usable GPU. */
export function gpuMemoryBytes(): number | null {
  const status = native().cudaStatus();
  return status.available ? (status.totalMemoryBytes ?? null) : null;
}

/** Why training cannot use a GPU here (no CUDA build, it does not load, no device, driver too old), or null if it can. */
export function cudaUnavailableReason(): string | null {
  const status = native().cudaStatus();
  if (status.available) return null;
  if (!status.built && cudaLoadError !== null) return cudaLoadError;
  return status.reason ?? 'no CUDA device';
}
