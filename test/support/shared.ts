// Finds the project's shared folder (tokenizers and reference configs that cannot be downloaded).
// It sits beside the checkout in the workplace; a clone elsewhere (CI, a temp folder) finds it
// through MINILM_SHARED_DIR or the workplace's fixed location.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function findSharedDir(): string {
  const candidates = [process.env.MINILM_SHARED_DIR, path.resolve(repoRoot, '../shared'), '/work/shared'];
  for (const dir of candidates) {
    if (dir && fs.existsSync(path.join(dir, 'tokenizers'))) return dir;
  }
  throw new Error(`cannot find the shared folder (tokenizers, reference configs); looked in ${candidates.filter(Boolean).join(', ')}. Set MINILM_SHARED_DIR.`);
}

export const sharedDir = findSharedDir();
