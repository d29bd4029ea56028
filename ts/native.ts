// Loads the native addon built by `npm run build:native` (native/minilm.<platform>.node).
// MINILM_NATIVE_LIBRARY_PATH selects another build, such as a CUDA one.
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

function load(): NativeAddon {
  const file = process.env.MINILM_NATIVE_LIBRARY_PATH ?? path.join(root, 'native', binaryName());
  if (!existsSync(file)) {
    throw new Error(
      `minilm's native addon is missing (${file}). Build it with \`npm install\` (or \`npm run build:native\`) ` +
        'in the minilm folder; it needs Rust (cargo) on the PATH.',
    );
  }
  return createRequire(import.meta.url)(file) as NativeAddon;
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use so that `--help` works even before it is built. */
export function native(): NativeAddon {
  addon ??= load();
  return addon;
}
