// Loads the native addon: the CPU build of `npm run build:native` (native/minilm.<platform>.node), or the
// CUDA build of `npm run build:cuda` (native-cuda/) where it loads. MINILM_NATIVE_LIBRARY_PATH selects another file.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type * as Native from '../native/index.js';

export type NativeAddon = typeof Native;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The file name `napi build --platform` gives the addon on this machine. */
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
let cudaLoadError: string | null = null;

/**
 * The addon: MINILM_NATIVE_LIBRARY_PATH if set; else the CUDA build (`npm run build:cuda`, in native-cuda/)
 * when there is one and it loads (it needs the CUDA libraries and the driver); else the CPU build. The CUDA
 * build does everything the CPU one does, so one addon serves the whole process.
 */
function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  const cudaFile = path.join(cudaDir, binaryName());
  if (!process.env.MINILM_NATIVE_LIBRARY_PATH && process.env.MINILM_DEVICE !== 'cpu' && existsSync(cudaFile)) {
    try {
      return require(cudaFile) as NativeAddon;
    } catch (error) {
      // Typically the driver's libcuda.so.1, or a CUDA library, that the loader cannot find.
      const detail = (error as Error).message.split('\n')[0];
      cudaLoadError = /libcuda\.so/.test(detail)
        ? `no NVIDIA driver found (the CUDA addon needs libcuda.so.1: ${detail})`
        : `the CUDA addon ${cudaFile} does not load (${detail}); put the CUDA 13 libraries (cuBLAS, cuRAND) on LD_LIBRARY_PATH, as scripts/gpu-check.sh does`;
    }
  }
  const file = process.env.MINILM_NATIVE_LIBRARY_PATH ?? path.join(root, 'native', binaryName());
  if (!existsSync(file)) {
    throw new Error(
      `minilm's native addon is missing (${file}). Build it with \`npm install\` (or \`npm run build:native\`) ` +
        'in the minilm folder; it needs Rust (cargo) on the PATH.',
    );
  }
  return require(file) as NativeAddon;
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use so that `--help` works even before it is built. */
export function native(): NativeAddon {
  addon ??= load();
  return addon;
}

/** Why training cannot use a GPU here (no CUDA build, it does not load, no device, driver too old), or null if it can. */
export function cudaUnavailableReason(): string | null {
  const status = JSON.parse(native().cudaStatus()) as { built: boolean; available: boolean; reason: string | null };
  if (status.available) return null;
  if (!status.built && cudaLoadError !== null) return cudaLoadError;
  return status.reason ?? 'no CUDA device';
}
