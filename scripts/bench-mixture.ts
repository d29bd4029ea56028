// `npm run bench:mixture`: a weighted mixture's realised token shares against its weights over 1,000
// steps of the tiny test model (three sources: Tang/Song poems in two halves and Brown English, weights
// 0.6 / 0.3 / 0.1). Not a test: prints a Markdown table for BENCHMARKS.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPretrainConfig, prepare, pretrain, writeParquetTexts } from '../ts/index.js';
import { brownParagraphs, poems } from '../test/support/corpus.js';
import { minimindTokenizer } from '../test/support/cli.js';
import { tinyConfig } from '../test/support/training.js';

const STEPS = 1000;
const WEIGHTS = { tang: 0.6, song: 0.3, en: 0.1 };

async function dataset(name: string, texts: string[]): Promise<string> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `minilm-bench-mix-${name}-`));
  writeParquetTexts(path.join(root, 'in', 'part.parquet'), [texts]);
  await prepare({ inputDir: path.join(root, 'in'), outputDir: path.join(root, 'out'), tokenizerPath: minimindTokenizer, valFraction: 0.02 });
  return path.join(root, 'out');
}

async function main(): Promise<void> {
  const all = [...poems(20_000)];
  const paths = {
    tang: await dataset('tang', all.slice(0, 10_000)),
    song: await dataset('song', all.slice(10_000)),
    en: await dataset('en', [...brownParagraphs(2000)]),
  };
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'minilm-bench-mix-run-'));
  const sources = Object.entries(WEIGHTS).map(([name, weight]) => ({ name, weight, path: paths[name as keyof typeof paths] }));
  const tree = tinyConfig(paths.tang, out, {
    data: { class_path: 'minilm.data.Mixture', init_args: { sources } },
    train: { max_tokens: 16 * 64 * STEPS, save_interval: STEPS, log_interval: 1 },
    eval: { interval: 250, max_iters: 4, initial_validation: false, final_validation: true },
  });
  let repeats = 0;
  const started = Date.now();
  await pretrain(loadPretrainConfig({ tree }), { onLog: (e) => (e.type === 'warning' && e.message.includes('ran out') ? repeats++ : undefined) });
  const seconds = (Date.now() - started) / 1000;

  const [header, ...rows] = fs.readFileSync(path.join(out, 'logs/csv/version_0/metrics.csv'), 'utf8').trim().split('\n');
  const columns = header.split(',');
  const at = (step: number) => {
    const cells = rows.map((r) => r.split(',')).find((c) => Number(c[columns.indexOf('step')]) === step && c[columns.indexOf('loss')] !== '')!;
    return Object.keys(WEIGHTS).map((name) => Number(cells[columns.indexOf(`tokens/${name}`)]));
  };
  console.log(`\n${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0].model}, ${os.availableParallelism()} cores, node ${process.version}`);
  console.log(`${STEPS} steps of 16 windows x 64 tokens in ${seconds.toFixed(0)} s; sources that ran out and repeated: ${repeats}\n`);
  console.log(
    `| after step | ${Object.entries(WEIGHTS)
      .map(([n, w]) => `${n} (weight ${w})`)
      .join(' | ')} | largest gap to the weight |`,
  );
  console.log(
    `|---:|${Object.keys(WEIGHTS)
      .map(() => '---:|')
      .join('')}---:|`,
  );
  for (const step of [1, 10, 100, 1000]) {
    const tokens = at(step);
    const total = tokens.reduce((a, b) => a + b, 0);
    const shares = tokens.map((t) => t / total);
    const gap = Math.max(...shares.map((s, i) => Math.abs(s - Object.values(WEIGHTS)[i])));
    console.log(`| ${step} | ${shares.map((s) => `${(100 * s).toFixed(2)}%`).join(' | ')} | ${(100 * gap).toFixed(2)} points |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
