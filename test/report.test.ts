// `minilm report` on a real (tiny) run: the command pretrain prints at its end, the page as headless
// Chromium draws it (the curves' colours on screen, the hover script running), the --png image, a run with
// no checkpoint yet, and clear errors.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TRAIN_COLOR, VAL_COLOR } from '../ts/report/chart.js';
import { writeReport } from '../ts/index.js';
import { runCli } from './support/cli.js';
import { tempDir } from './support/files.js';
import { countColor, readPng } from './support/png.js';
import { poetryDataset, tinyConfig, writeConfig } from './support/training.js';

let runDir: string;
let pretrainStderr: string;

before(async () => {
  const data = await poetryDataset(3_000);
  runDir = path.join(tempDir('report'), 'run');
  const config = tinyConfig(data, runDir, { train: { max_tokens: 16 * 64 * 30, save_interval: 10 }, eval: { interval: 10, initial_validation: true } });
  const result = await runCli(['pretrain', '--config', writeConfig(config)]);
  assert.equal(result.code, 0, result.stderr);
  pretrainStderr = result.stderr;
});

/** Chromium from Debian's `chromium` package (or MINILM_CHROMIUM); CI installs it, elsewhere the test says it is missing. */
function chromium(): string | null {
  const candidates = [process.env.MINILM_CHROMIUM, 'chromium', 'chromium-browser', 'google-chrome'].filter((c): c is string => !!c);
  return candidates.find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0) ?? null;
}

function headless(browser: string, args: string[]) {
  const result = spawnSync(browser, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', ...args], {
    timeout: 120_000,
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, `${browser} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

test('pretrain ends by printing the report command, which writes one self-contained page and the loss PNG', async (t) => {
  assert.match(pretrainStderr, new RegExp(`curves: npx minilm report \\S*${path.basename(runDir)}`));
  assert.match(pretrainStderr, /^device: (cpu|cuda:0), 32-true, matmul peak [\d.]+ TFLOP\/s for MFU \(measured: best of \d+ 1024\^3 float32 matmuls\)/m);
  const result = await runCli(['report', runDir, '--png']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /wrote \S*report\.html \(\d+ metric rows, 4 checkpoints\)/);
  const html = fs.readFileSync(path.join(runDir, 'report.html'), 'utf8');
  // Nothing to fetch: no scripts, styles, images or fonts from elsewhere (the SVG namespace is a name, not a fetch).
  assert.doesNotMatch(html.replaceAll('http://www.w3.org/2000/svg', ''), /(src|href)\s*=|https?:|@import|url\(/i);
  for (const id of ['loss', 'lr', 'throughput', 'mfu']) assert.match(html, new RegExp(`id="chart-${id}"`));
  for (const name of ['step-00000010', 'step-00000020', 'step-00000030', 'final']) assert.match(html, new RegExp(`<td>${name}</td>`));
  assert.match(html, /n_query_groups: 2/, 'the run config is shown');

  const png = readPng(fs.readFileSync(path.join(runDir, 'loss.png')));
  assert.deepEqual([png.width, png.height], [960, 540]);
  assert.ok(countColor(png, TRAIN_COLOR, 8) > 1000, 'the train loss line is drawn in the PNG');
  assert.ok(countColor(png, VAL_COLOR, 8) > 300, 'the val loss line and dots are drawn in the PNG');

  const browser = chromium();
  if (browser === null) {
    if (process.env.CI) assert.fail('Chromium is needed to render the report (apt-get install chromium, or set MINILM_CHROMIUM)');
    t.skip('Chromium not installed: apt-get install chromium to check the page renders');
    return;
  }
  const shot = path.join(tempDir('report-shot'), 'page.png');
  headless(browser, [`--screenshot=${shot}`, '--window-size=1400,1000', `file://${path.join(runDir, 'report.html')}`]);
  const page = readPng(fs.readFileSync(shot));
  // Measured on this page: the legend swatches alone give about 80 train-coloured pixels (about 150 in the
  // val colour with the dots); the curves bring that to about 500 and 650.
  assert.ok(countColor(page, TRAIN_COLOR) > 300, `train loss curve on screen: ${countColor(page, TRAIN_COLOR)} pixels`);
  assert.ok(countColor(page, VAL_COLOR) > 350, `val loss curve on screen: ${countColor(page, VAL_COLOR)} pixels`);
  // The hover script ran to its end: it adds one cursor line per chart.
  const dom = headless(browser, ['--dump-dom', `file://${path.join(runDir, 'report.html')}`]);
  assert.equal((dom.match(/class="cursor"/g) ?? []).length, 4, 'the hover script set up every chart');
});

test('a run with metrics but no checkpoint yet gets a report; a folder without metrics gets a clear error', async () => {
  const inProgress = tempDir('report-early');
  fs.mkdirSync(path.join(inProgress, 'logs/csv/version_0'), { recursive: true });
  const rows = [
    'step,iter,tokens,loss,learning_rate,grad_norm,tokens_per_sec,mfu,val_loss,val_ppl',
    '1,1,1024,9.1,0.001,1.2,5000,0.4,,',
    '2,2,2048,8.7,0.001,1.1,5100,0.41,,',
    '3,3,30',
  ];
  fs.writeFileSync(path.join(inProgress, 'logs/csv/version_0/metrics.csv'), `${rows.join('\n')}`);
  const summary = writeReport(inProgress);
  assert.equal(summary.rows, 2, 'the row still being written is left out');
  assert.match(fs.readFileSync(summary.html, 'utf8'), /No checkpoint yet/);

  // litgpt's CSV (Lightning's logger): columns in first-seen order, no tokens column in older versions.
  const litgpt = tempDir('report-litgpt');
  fs.mkdirSync(path.join(litgpt, 'logs/csv/version_0'), { recursive: true });
  fs.writeFileSync(path.join(litgpt, 'logs/csv/version_0/metrics.csv'), 'loss,iter,step,learning_rate,val_loss\n9.0,1,0,0.001,\n8.0,2,1,0.001,\n,,1,,8.2\n');
  const fromLitgpt = writeReport(litgpt);
  assert.equal(fromLitgpt.rows, 3);
  assert.match(fs.readFileSync(fromLitgpt.html, 'utf8'), /<text class="axis-label"[^>]*>step<\/text>/);

  const empty = tempDir('report-empty');
  const missing = await runCli(['report', empty]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /has no metrics: .*metrics\.csv is missing/);
  const gone = await runCli(['report', path.join(empty, 'nope')]);
  assert.match(gone.stderr, /nope does not exist; expected the out_dir of a minilm pretrain run/);

  fs.mkdirSync(path.join(empty, 'logs/csv/version_0'), { recursive: true });
  fs.writeFileSync(path.join(empty, 'logs/csv/version_0/metrics.csv'), 'step,loss\n1,2.5\n2,2.4,7\n');
  const torn = await runCli(['report', empty]);
  assert.equal(torn.code, 2);
  assert.match(torn.stderr, /metrics\.csv line 3: expected 2 cells \(step,loss\), found 3/);
  assert.doesNotMatch(torn.stderr, /at .*\.js:\d+/, 'no stack trace');
});
