// `minilm pretrain` on a weighted mixture of prepared datasets (data.class_path: minilm.data.Mixture):
// token shares follow the weights, metrics.csv has tokens/NAME and val_loss/NAME, a run killed with
// kill -9 resumes with the same losses, a changed mixture is refused naming the change, and a source
// that runs out repeats (with a warning) or ends the run, as configured.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadPretrainConfig, prepare, writeParquetTexts } from '../ts/index.js';
import { brownParagraphs } from './support/corpus.js';
import { minimindTokenizer, runCli } from './support/cli.js';
import { tempDir } from './support/files.js';
import { interruptAfterSave, lossesByStep, poetryDataset, tinyConfig, writeConfig } from './support/training.js';

let poems: string;
let english: string;

async function englishDataset(sentences: number): Promise<string> {
  const input = tempDir('mix-en-in');
  writeParquetTexts(path.join(input, 'en.parquet'), [[...brownParagraphs(sentences)]]);
  const output = tempDir('mix-en');
  await prepare({ inputDir: input, outputDir: output, tokenizerPath: minimindTokenizer, valFraction: 0.05 });
  return output;
}

before(async () => {
  [poems, english] = await Promise.all([poetryDataset(3000), englishDataset(100)]);
});

function mixtureConfig(out: string, weights: [number, number], extra: Record<string, unknown> = {}, steps = 30) {
  const data = {
    class_path: 'minilm.data.Mixture',
    init_args: {
      sources: [
        { path: poems, weight: weights[0], name: 'poems' },
        { path: english, weight: weights[1], name: 'en' },
      ],
      ...extra,
    },
  };
  return tinyConfig(poems, out, { data, train: { max_tokens: 16 * 64 * steps, save_interval: 5 } });
}

function metrics(out: string): Array<Record<string, string>> {
  const [header, ...rows] = fs.readFileSync(path.join(out, 'logs/csv/version_0/metrics.csv'), 'utf8').trim().split('\n');
  const columns = header.split(',');
  return rows.map((row) => Object.fromEntries(row.split(',').map((cell, i) => [columns[i], cell])));
}

test('token shares follow the weights, each source is validated, and kill -9 resumes bit for bit', async () => {
  const reference = tempDir('mix-ref');
  const run = await runCli(['pretrain', '--config', writeConfig(mixtureConfig(reference, [0.7, 0.3]))]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /source poems: [\d,]+ windows/);
  const rows = metrics(reference);
  const last = rows.filter((r) => r['tokens/poems'] !== '').at(-1)!;
  const [p, e] = [Number(last['tokens/poems']), Number(last['tokens/en'])];
  assert.equal(p + e, Number(last.tokens));
  assert.ok(Math.abs(p / (p + e) - 0.7) < 0.01, `poems' share ${p / (p + e)}`);
  const validated = rows.filter((r) => r.val_loss !== '').at(-1)!;
  assert.ok(Number(validated['val_loss/poems']) > 0 && Number(validated['val_loss/en']) > 0, JSON.stringify(validated));
  assert.match(run.stderr, /val_loss [\d.]+ +val_ppl [\d.]+ +val_bpb [\d.]+ +poems [\d.]+ +en [\d.]+/);
  // 30 steps take 30 x 16 x 0.3 = 144 English windows, more than the source has: it began again.
  assert.match(run.stderr, /warning: mixture source en ran out of windows at step \d+: starting its epoch 2/);

  const out = tempDir('mix-killed');
  const configFile = writeConfig(mixtureConfig(out, [0.7, 0.3]));
  await interruptAfterSave(configFile, 10, 'SIGKILL');
  const resumed = await runCli(['pretrain', '--config', configFile, '--resume', 'auto']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual([...lossesByStep(out)], [...lossesByStep(reference)], 'the same loss at every step');
  assert.deepEqual(metrics(out).at(-1)!['tokens/en'], rows.at(-1)!['tokens/en']);

  const reweighted = await runCli(['pretrain', '--config', writeConfig(mixtureConfig(out, [0.5, 0.5])), '--resume', 'true']);
  assert.notEqual(reweighted.code, 0);
  assert.match(reweighted.stderr, /the mixture changed \(poems's weight 0\.7 is now 0\.5; en's weight 0\.3 is now 0\.5\)/);
});

test("on_exhausted: stop ends the run before a source's second epoch", async () => {
  const out = tempDir('mix-stop');
  const run = await runCli(['pretrain', '--config', writeConfig(mixtureConfig(out, [0.5, 0.5], { on_exhausted: 'stop' }, 60))]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /mixture source en has no windows left for step (\d+) \(on_exhausted: stop\): ending the run/);
  assert.doesNotMatch(run.stderr, /ran out of windows/);
  const steps = Math.max(...lossesByStep(out).keys());
  assert.ok(steps > 3 && steps < 60, `stopped after ${steps} steps`);
  assert.ok(fs.existsSync(path.join(out, 'final', 'model.safetensors')), 'the final checkpoint is saved');
});

test('mixture configs are checked, and the library resolves them', () => {
  const tree = mixtureConfig(tempDir('mix-lib'), [2, 1]);
  const config = loadPretrainConfig({ tree });
  assert.deepEqual(
    config.data.mixture?.sources.map((s) => [s.name, s.weight]),
    [
      ['poems', 2],
      ['en', 1],
    ],
  );
  assert.equal(config.data.mixture?.on_exhausted, 'repeat');
  const bad = (init_args: Record<string, unknown>) => () => loadPretrainConfig({ tree: { ...tree, data: { class_path: 'minilm.data.Mixture', init_args } } });
  assert.throws(bad({ sources: [{ path: poems, weight: 0 }] }), /sources\[0\]\.weight must be a number > 0, not 0/);
  assert.throws(
    bad({
      sources: [
        { path: poems, weight: 1, name: 'x' },
        { path: english, weight: 1, name: 'x' },
      ],
    }),
    /two sources are named x/,
  );
  assert.throws(bad({ data_path: poems, sources: [{ path: poems, weight: 1 }] }), /a mixture reads its sources, not data_path/);
  assert.throws(bad({ sources: [{ path: poems, wieght: 1 }] }), /sources\[0\]: unknown key wieght/);
  assert.throws(bad({ sources: [] }), /a mixture needs a list of sources/);
  assert.throws(bad({ sources: [{ path: poems, weight: 1 }], on_exhausted: 'wrap' }), /on_exhausted must be one of repeat, stop/);
  assert.throws(
    () => loadPretrainConfig({ tree: { ...tree, data: { class_path: 'LitData', init_args: { data_path: poems, sources: [] } } } }),
    /data\.init_args\.sources belongs to minilm\.data\.Mixture/,
  );
});
