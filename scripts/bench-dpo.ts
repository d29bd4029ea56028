// `npm run bench:dpo`: does DPO work on the quickstart's chat model? From out/quickstart-sft/final
// (`npm start -- --chat` makes it), preference pairs on the author questions of its SFT set (the right
// author chosen, another poet of the set rejected: ts/data/sample-chat.ts), every tenth pair held out, written
// to data/sample/dpo/ (train.jsonl, val.jsonl); then `minilm dpo --config configs/dpo.yaml` as a user
// runs it. Reports the held-out pairs' rewards/accuracies and margins before and after (from the run's
// metrics.csv), and how many of the held-out and of the first 100 trained questions the model answers
// with the right author, greedy, before and after. `--wrong title` rejects answers that name another
// title instead of another author (and counts answers that repeat the title asked about); `--wrong own`
// rejects the fine-tuned model's own greedy answer wherever it is not the right one (on-policy pairs:
// what the model says against what it should say). Other arguments after `--` are overrides for
// minilm dpo. Not a test: prints Markdown for BENCHMARKS.md.
//
//   npm run bench:dpo [-- --wrong title|own] [-- --optimizer.init_args.lr 0.0005 --train.epochs 4]
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
const args = process.argv.slice(2);
const wrongAt = args.indexOf('--wrong');
const wrong = wrongAt >= 0 ? args[wrongAt + 1] : 'author';
if (wrong !== 'author' && wrong !== 'title' && wrong !== 'own') throw new Error(`--wrong: expected author, title or own, not ${wrong}`);
const overrides = wrongAt >= 0 ? [...args.slice(0, wrongAt), ...args.slice(wrongAt + 2)] : args;
const pairs = wrong === 'own' ? await ownAnswerPairs() : authorPreferencePairs(Number.MAX_SAFE_INTEGER, wrong);

/** The author pairs with the fine-tuned model's own greedy answer as the rejected reply, where it is wrong. */
async function ownAnswerPairs(): Promise<PreferencePair[]> {
  const model = await Model.load(base);
  const own: PreferencePair[] = [];
  for (const pair of authorPreferencePairs(Number.MAX_SAFE_INTEGER, 'author')) {
    const reply = model.chat([{ role: 'user', content: pair.prompt }], { maxNewTokens: 32, temperature: 0 });
    for await (const _piece of reply);
    const said = reply.text.trim();
    if (said !== pair.chosen) own.push({ ...pair, rejected: said });
  }
  return own;
}
const val = pairs.filter((_, i) => i % 10 === 9);
const train = pairs.filter((_, i) => i % 10 !== 9);
mkdirSync(dataDir, { recursive: true });
const lines = (rows: PreferencePair[]) => `${rows.map((p) => JSON.stringify(p)).join('\n')}\n`;
writeFileSync(path.join(dataDir, 'train.jsonl'), lines(train));
writeFileSync(path.join(dataDir, 'val.jsonl'), lines(val));

const outDir = path.join(repoRoot, 'out', 'quickstart-dpo');
rmSync(outDir, { recursive: true, force: true });
const started = Date.now();
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

/**
 * How many of `questions` the model at `dir` answers right (greedy) in the part the pairs are about: the
 * reply ends 的作者是Y。 with the right Y (author pairs), or starts 《X》 with the title asked about (title pairs).
 */
async function rightAnswers(dir: string, questions: PreferencePair[]): Promise<number> {
  const model = await Model.load(dir);
  let right = 0;
  for (const pair of questions) {
    const reply = model.chat([{ role: 'user', content: pair.prompt }], { maxNewTokens: 32, temperature: 0 });
    for await (const _piece of reply);
    const text = reply.text.trim();
    const at = pair.chosen.indexOf('的作者是');
    if (wrong === 'title' ? text.startsWith(pair.chosen.slice(0, at)) : text.endsWith(pair.chosen.slice(at))) right += 1;
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
    `pairs (wrong ${wrong}): ${train.length} train, ${val.length} held out; minilm dpo --config configs/dpo.yaml ${overrides.join(' ')} took ${seconds.toFixed(0)} s\n\n` +
    '| step | val_loss | val_rewards/accuracies | val_rewards/margins | val_rewards/chosen | val_rewards/rejected |\n|---|---|---|---|---|---|\n' +
    validations
      .map(
        (v) =>
          `| ${v.step} | ${Number(v.val_loss).toFixed(4)} | ${(100 * Number(v['val_rewards/accuracies'])).toFixed(1)}% | ${Number(v['val_rewards/margins']).toFixed(3)} | ` +
          `${Number(v['val_rewards/chosen']).toFixed(3)} | ${Number(v['val_rewards/rejected']).toFixed(3)} |`,
      )
      .join('\n') +
    `\n\nright ${wrong === 'title' ? 'title' : 'author'} (greedy), before -> after DPO:\n` +
    `  held-out questions: ${answers.before.val}/${val.length} -> ${answers.after.val}/${val.length}\n` +
    `  trained questions (first 100): ${answers.before.trained}/100 -> ${answers.after.trained}/100\n`,
);
