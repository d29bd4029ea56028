// A checkpoint folder's layout, in one place for training, generation and the report: out_dir/step-XXXXXXXX/
// and out_dir/final/, each holding what the native trainer writes (its file names come from the addon,
// crates/minilm-core/src/train/trainer.rs) plus model_config.yaml, hyperparameters.yaml and the
// tokenizer files, as litgpt lays them out. A folder is filled under a hidden temporary name and renamed
// into place, so a crash during a save never leaves a half checkpoint under a real name, nor damages an
// earlier one.
import fs from 'node:fs';
import path from 'node:path';
import { native } from './native.js';

export const FINAL_FOLDER = 'final';
const STEP_FOLDER = /^step-(\d{8,})$/;

/** Every file a checkpoint may hold, by role. */
export interface CheckpointFiles {
  /** The weights (litgpt's names), the AdamW moments and the run's position: written by the trainer. */
  weights: string;
  optimizer: string;
  state: string;
  /** A LoRA run's checkpoints hold its adapters instead of the weights, and lora.json, which names their base. */
  adapters: string;
  adapterConfig: string;
  /** litgpt's model and run settings. */
  modelConfig: string;
  hyperparameters: string;
  /** Copied from the tokenizer folder where present, so that a checkpoint generates text on its own. */
  tokenizer: string[];
}

let files: CheckpointFiles | undefined;

/** The names, read from the addon once (on first use, so that --help needs no addon). */
export function checkpointFiles(): CheckpointFiles {
  files ??= {
    ...native().checkpointFiles(),
    modelConfig: 'model_config.yaml',
    hyperparameters: 'hyperparameters.yaml',
    tokenizer: ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json', 'tokenizer.model'],
  };
  return files;
}

export function stepFolderName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** The step a folder name stands for (step-00000100 -> 100), or null for final/ and other names. */
export function stepOfFolder(name: string): number | null {
  const match = STEP_FOLDER.exec(name);
  return match === null ? null : Number(match[1]);
}

/** step-* folders of out_dir that a run can resume from (they have a state file), oldest first. */
export function resumableCheckpoints(outDir: string): { step: number; dir: string }[] {
  if (!fs.existsSync(outDir)) return [];
  const { state } = checkpointFiles();
  return fs
    .readdirSync(outDir)
    .map((name) => ({ step: stepOfFolder(name), dir: path.join(outDir, name) }))
    .filter((e): e is { step: number; dir: string } => e.step !== null && fs.existsSync(path.join(e.dir, state)))
    .sort((a, b) => a.step - b.step);
}

/** step-* and final/ folders of out_dir that hold weights (or a LoRA run's adapters). */
export function weightCheckpoints(outDir: string): { name: string; dir: string }[] {
  return fs
    .readdirSync(outDir)
    .filter((name) => (STEP_FOLDER.test(name) || name === FINAL_FOLDER) && checkpointWeights(path.join(outDir, name)) !== null)
    .map((name) => ({ name, dir: path.join(outDir, name) }));
}

/** A checkpoint folder's weights file: the model's, or a LoRA run's adapters; null when it has neither. */
export function checkpointWeights(dir: string): string | null {
  const { weights, adapters } = checkpointFiles();
  const file = [weights, adapters].map((name) => path.join(dir, name)).find((file) => fs.existsSync(file));
  return file ?? null;
}

/** What a checkpoint's state file says of its position; litgpt's checkpoints have none. */
export function readCheckpointPosition(dir: string): { step?: number; tokens?: number } {
  const file = path.join(dir, checkpointFiles().state);
  if (!fs.existsSync(file)) return {};
  try {
    const state = JSON.parse(fs.readFileSync(file, 'utf8')) as { step?: unknown; tokens?: unknown };
    return {
      step: typeof state.step === 'number' ? state.step : undefined,
      tokens: typeof state.tokens === 'number' ? state.tokens : undefined,
    };
  } catch {
    return {};
  }
}

/** Fills a checkpoint folder through `fill(tmpDir)` and renames it to `dir`, replacing an older one. */
export async function writeCheckpointFolder(dir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.partial`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  await fill(tmp);
  // Replacing an existing folder (final/ of an earlier run): move it aside first, so that one of the
  // two is always complete under a known name.
  const old = path.join(parent, `.${path.basename(dir)}.old`);
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
}

/** Copies the tokenizer files of `tokenizerDir` that exist into a checkpoint folder. */
export function copyTokenizerFiles(tokenizerDir: string, into: string): void {
  for (const name of checkpointFiles().tokenizer) {
    const from = path.join(tokenizerDir, name);
    if (fs.existsSync(from)) fs.copyFileSync(from, path.join(into, name));
  }
}
