// A prepared poetry dataset and tiny litgpt configs for training tests.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { prepare, writeParquetTexts } from '../../ts/index.js';
import { poems } from './corpus.js';
import { minimindTokenizer, startCli } from './cli.js';
import { tempDir } from './files.js';
import { sharedFixture } from './fixtures.js';

/** `documents` Tang/Song poems prepared with the reference tokenizer (once per test run; read only). */
export function poetryDataset(documents: number): Promise<string> {
  return sharedFixture(`poetry-${documents}`, async (output) => {
    const input = tempDir('train-in');
    writeParquetTexts(path.join(input, 'poems.parquet'), [[...poems(documents)]]);
    await prepare({ inputDir: input, outputDir: output, tokenizerPath: minimindTokenizer, valFraction: 0.02 });
    fs.rmSync(input, { recursive: true, force: true });
  });
}

/** A tiny LLaMA-family config in litgpt's YAML shape; `changes` are merged section by section. */
export function tinyConfig(dataPath: string, outDir: string, changes: Record<string, Record<string, unknown> | unknown> = {}): Record<string, unknown> {
  const base: Record<string, any> = {
    model_config: {
      name: 'tiny',
      block_size: 64,
      vocab_size: 6400,
      padded_vocab_size: 6400,
      n_layer: 2,
      n_head: 4,
      n_query_groups: 2,
      n_embd: 64,
      rotary_percentage: 1.0,
      parallel_residual: false,
      bias: false,
      norm_class_name: 'RMSNorm',
      mlp_class_name: 'LLaMAMLP',
      intermediate_size: 128,
    },
    out_dir: outDir,
    precision: '32-true',
    data: { class_path: 'litgpt.data.LitData', init_args: { data_path: dataPath } },
    train: {
      save_interval: 5,
      log_interval: 1,
      global_batch_size: 16,
      micro_batch_size: 8,
      lr_warmup_steps: 3,
      max_tokens: 16 * 64 * 20,
      tie_embeddings: true,
      max_norm: 1.0,
      min_lr: 1e-4,
    },
    eval: { interval: 10, max_iters: 4, initial_validation: false, final_validation: true },
    optimizer: { class_path: 'torch.optim.AdamW', init_args: { lr: 3e-3, weight_decay: 0.1, betas: [0.9, 0.95] } },
    logger_name: 'csv',
    seed: 42,
  };
  return mergeSections(base, changes);
}

/** `base` with `changes` merged in section by section (a mapping merges into a mapping; anything else replaces). */
export function mergeSections(base: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(changes)) {
    const old = merged[key];
    const mapping = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
    merged[key] = mapping(value) && mapping(old) ? { ...(old as object), ...(value as object) } : value;
  }
  return merged;
}

export function writeConfig(tree: Record<string, unknown>): string {
  const file = path.join(tempDir('config'), 'pretrain.yaml');
  fs.writeFileSync(file, YAML.stringify(tree));
  return file;
}

/** The rows of a run's metrics.csv that carry `column` (the training loss by default): step -> its text (exact digits). */
export function lossesByStep(outDir: string, column = 'loss'): Map<number, string> {
  const file = path.join(outDir, 'logs/csv/version_0/metrics.csv');
  const [header, ...rows] = fs.readFileSync(file, 'utf8').trim().split('\n');
  const columns = header.split(',');
  const step = columns.indexOf('step');
  const loss = columns.indexOf(column);
  const out = new Map<number, string>();
  for (const row of rows) {
    const cells = row.split(',');
    if (cells[loss] !== '') out.set(Number(cells[step]), cells[loss]);
  }
  return out;
}

/** Runs the CLI until `saved .../step-000000{stopAt}` appears, then sends `signal`. */
export async function interruptAfterSave(configFile: string, stopAt: number, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  const run = startCli(['pretrain', '--config', configFile]);
  const marker = `step-${String(stopAt).padStart(8, '0')}`;
  await new Promise<void>((resolve) => {
    const check = (chunk: Buffer) => {
      if (chunk.toString().includes(`saved`) && chunk.toString().includes(marker)) {
        run.child.stderr!.off('data', check);
        run.child.kill(signal);
        resolve();
      }
    };
    run.child.stderr!.on('data', check);
    run.done.then(() => resolve());
  });
  const result = await run.done;
  return { code: result.code, stderr: result.stderr };
}
