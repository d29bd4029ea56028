// `npm run bench:dpo`: does DPO work on the quickstart's chat model? From out/quickstart-sft/final
// (`npm start -- --chat` makes it), preference pairs on the author questions of its SFT set (the right
// author chosen, another poet of the set rejected: ts/data/sample-chat.ts), every tenth pair held out, written
// to data/sample/dpo/ (train.jsonl, val.jsonl); then `minilm dpo --config configs/dpo.yaml` as a user
// runs it. Reports the held-out pairs' rewards/accuracies and margins before and after (from the run's
// metrics.csv), and how many of the held-out and of the first 100 trained questions the model answers
// with the right author, greedy, before and after. Arguments after `--` are overrides for minilm dpo.
// Not a test: prints Markdown for BENCHMARKS.md.
//
//   npm run bench:dpo [-- --optimizer.init_args.lr 0.0005 --train.epochs 4]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Model } from '../ts/index.js';
import { authorPreferencePairs, type PreferencePair } from '../ts/data/sample-chat.js';
import { repoRoot } from '../test/support/cli.js';

const base = path.join(repoRoot, 'out', 'quickstart-sft', 'final');
if (!existsSync(base)) throw new Error(`${base} is missing: run \`npm start -- --chat\` first`);
const dataDir = path.join(repoRoot, 'data', 'sample', 'dpo');
const pairs = authorPreferencePairs(Number.MAX_SAFE_INTEGER);
const val = pairs.filter((_, i) => i % 10 === 9);
const train = pairs.filter((_, i) => i % 10 !== 9);
mkdirSync(dataDir, { recursive: true });
const lines = (rows: PreferencePair[]) => `${rows.map((p) => JSON.stringify(p)).join('\n')}\n`;
writeFileSync(path.join(dataDir, 'train.jsonl'), lines(train));
writeFileSync(path.join(dataDir, 'val.jsonl'), lines(val));

const outDir = path.join(repoRoot, 'out', 'quickstart-dpo');
rmSync(outDir, { recursive: true, force: true });
const started = Date.now();
const overrides = process.argv.slice(2);
const run = spawnSync('npx', ['minilm', 'dpo', '--config', 'configs/dpo.yaml', ...overrides], {
  cwd: repoRoot,
  encoding: 'utf8',
  stdio: ['ignore', 'inherit', 'pipe'],
});
if (run.status !== 0) throw new Error(`minilm dpo failed:\n${run.stderr}`);
const seconds = (Date.now() - started) / 1000;

const [header, ...rows] = readFileSync(path.join(outDir, 'logs/csv/version_0/metrics.csv'), 'utf8').trim().split('\n');
const columns = header.split(',');
const validations = rows
  .map((row) => row.split(','))
  .filter((cells) => cells[columns.indexOf('val_rewards/accuracies')] !== '')
  .map((cells) => Object.fromEntries(columns.map((c, i) => [c, cells[i]])));

/** How many of `questions` the model at `dir` answers naming the chosen reply's author (greedy): the reply ends 的作者是Y。 with the right Y. */
async function rightAnswers(dir: string, questions: PreferencePair[]): Promise<number> {
  const model = await Model.load(dir);
  let right = 0;
  for (const pair of questions) {
    const reply = model.chat([{ role: 'user', content: pair.prompt }], { maxNewTokens: 32, temperature: 0 });
    for await (const _piece of reply);
    if (reply.text.trim().endsWith(pair.chosen.slice(pair.chosen.indexOf('的作者是')))) right += 1;
  }
  return right;
}
const trained = train.slice(0, 100);
const tuned = path.join(outDir, 'final');
const answers = {
  before: { val: await rightAnswers(base, val), trained: await rightAnswers(base, trained) },
  after: { val: await rightAnswers(tuned, val), trained: await rightAnswers(tuned, trained) },
};

const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim();
process.stdout.write(
  `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores; commit ${commit}; ${new Date().toISOString().slice(0, 10)}\n` +
    `pairs: ${train.length} train, ${val.length} held out; minilm dpo --config configs/dpo.yaml ${overrides.join(' ')} took ${seconds.toFixed(0)} s\n\n` +
    '| step | val_loss | val_rewards/accuracies | val_rewards/margins | val_rewards/chosen | val_rewards/rejected |\n|---|---|---|---|---|---|\n' +
    validations
      .map(
        (v) =>
          `| ${v.step} | ${Number(v.val_loss).toFixed(4)} | ${(100 * Number(v['val_rewards/accuracies'])).toFixed(1)}% | ${Number(v['val_rewards/margins']).toFixed(3)} | ` +
          `${Number(v['val_rewards/chosen']).toFixed(3)} | ${Number(v['val_rewards/rejected']).toFixed(3)} |`,
      )
      .join('\n') +
    `\n\nright author (greedy: the reply ends 的作者是Y。 with the right Y), before -> after DPO:\n` +
    `  held-out questions: ${answers.before.val}/${val.length} -> ${answers.after.val}/${val.length}\n` +
    `  trained questions (first 100): ${answers.before.trained}/100 -> ${answers.after.trained}/100\n`,
);
