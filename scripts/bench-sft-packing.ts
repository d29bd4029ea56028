// `npm run bench:sft-packing`: what packing gives SFT on the quickstart's poetry instruction set
// (data/sample/sft/poetry-chat.jsonl's 2,178 conversations, configs/sft.yaml as `npm start -- --chat`
// runs it: 2 epochs, micro-batches of 16, max_seq_length 128) from a quickstart-sized model with random
// weights. Each round runs it unpacked, then packed (minilm.packing: true), in turn: steps, wall time,
// tokens/s over the steps, the share of computed positions that were padding, and the final validation
// loss over the whole held-out split (the same tokens either way: packing changes no token's loss).
// `--block 512` gives the model (and max_seq_length) 512 positions instead of 128: rows then hold
// several conversations each, where at 128 few pairs fit. `--set whole-poems` asks for the first 2,000
// poems of the corpus whole (写一首题为《X》的诗。-> the poem: replies from a couple of lines to hundreds of
// characters), the mixed lengths of real chat data. Not a test: prints machine info and a Markdown
// table for BENCHMARKS.md.
//
//   npm run bench:sft-packing [-- --rounds 2 --block 512 --set whole-poems]
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSftConfig, type PretrainEvent, sft } from '../ts/index.js';
import { type Conversation, poetryConversations } from '../ts/data/sample-chat.js';
import { poemRecords } from '../ts/data/sample-corpus.js';
import { repoRoot } from '../test/support/cli.js';
import { writeRandomCheckpoint } from './bench-model.js';
import { writeFileSync } from 'node:fs';

const { values: flags } = parseArgs({
  options: { rounds: { type: 'string', default: '2' }, block: { type: 'string', default: '128' }, set: { type: 'string', default: 'quickstart' } },
});
const rounds = Number(flags.rounds);
const block = Number(flags.block);
if (flags.set !== 'quickstart' && flags.set !== 'whole-poems') throw new Error(`--set: expected quickstart or whole-poems, not ${flags.set}`);
const root = path.join(repoRoot, 'bench-data', 'sft-packing');
const HELD_OUT = 40; // as `npm start -- --chat` keeps its questions out of the set

/** The first `count` poems, each asked for by its title and answered whole. */
function wholePoems(count: number): Conversation[] {
  return [...poemRecords(count)].map((poem) => ({
    conversations: [
      { role: 'user', content: `写一首题为《${poem.title}》的诗。` },
      { role: 'assistant', content: poem.paragraphs.join('\n') },
    ],
  }));
}

interface Run {
  packing: boolean;
  steps: number;
  rows: number;
  seconds: number;
  tokensPerSec: number;
  padding: number;
  valLoss: number | null;
}

async function run(packing: boolean, checkpoint: string, data: string): Promise<Run> {
  const outDir = path.join(root, packing ? 'packed' : 'unpacked');
  rmSync(outDir, { recursive: true, force: true });
  const config = loadSftConfig({
    configFile: path.join(repoRoot, 'configs', 'sft.yaml'),
    overrides: [
      '--checkpoint_dir',
      checkpoint,
      '--out_dir',
      outDir,
      '--data.init_args.json_path',
      data,
      '--minilm.packing',
      String(packing),
      '--train.log_interval',
      '1',
      '--eval.initial_validation',
      'false',
      '--eval.interval',
      '100000',
      '--train.save_interval',
      '100000',
      '--train.max_seq_length',
      String(block),
    ],
  });
  const steps: Extract<PretrainEvent, { type: 'step' }>[] = [];
  let rows = 0;
  const summary = await sft(config, {
    device: 'cpu',
    onLog: (event) => {
      if (event.type === 'step') steps.push(event);
      if (event.type === 'start') rows = event.info.trainWindows;
    },
  });
  // tokens/s as the log lines give it, from the second step on (the first pays for warming up).
  const measured = steps.slice(1);
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  return {
    packing,
    steps: summary.steps,
    rows,
    seconds: summary.seconds,
    tokensPerSec: mean(measured.map((s) => s.tokens_per_sec)),
    padding: mean(steps.map((s) => s.padding ?? 0)),
    valLoss: summary.val_loss,
  };
}

const checkpoint = path.join(root, 'base');
writeRandomCheckpoint(checkpoint, 'quickstart', ['--model_config.block_size', String(block)]);
const data = path.join(root, 'poetry-chat.jsonl');
const conversations = flags.set === 'quickstart' ? [...poetryConversations(Number.MAX_SAFE_INTEGER)].slice(0, -HELD_OUT) : wholePoems(2000);
writeFileSync(data, `${conversations.map((c) => JSON.stringify(c)).join('\n')}\n`);

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim();
process.stdout.write(`machine: ${cpu}, ${os.cpus().length} cores; commit ${commit}; ${new Date().toISOString().slice(0, 10)}\n`);
process.stdout.write(
  `data: ${conversations.length} conversations (${flags.set}); configs/sft.yaml (2 epochs, micro-batch 16), block_size and max_seq_length ${block}\n\n`,
);
process.stdout.write('| round | packing | rows | steps | wall time | tokens/s | padding | final val_loss |\n|---|---|---|---|---|---|---|---|\n');
const results: Run[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const packing of [false, true]) {
    const r = await run(packing, checkpoint, data);
    results.push(r);
    process.stdout.write(
      `| ${round} | ${r.packing ? 'yes' : 'no'} | ${r.rows} ${r.packing ? 'rows' : 'examples'} | ${r.steps} | ${r.seconds.toFixed(1)} s | ` +
        `${Math.round(r.tokensPerSec)} | ${(100 * r.padding).toFixed(1)}% | ${r.valLoss?.toFixed(4) ?? '-'} |\n`,
    );
  }
}
const ratio = (f: (r: Run) => number) => {
  const of = (packing: boolean) => results.filter((r) => r.packing === packing).map(f);
  const [unpacked, packed] = [of(false), of(true)];
  return unpacked.reduce((a, b) => a + b, 0) / packed.reduce((a, b) => a + b, 0);
};
process.stdout.write(
  `\npacked vs unpacked: ${ratio((r) => r.seconds).toFixed(2)}x less wall time, ${(1 / ratio((r) => r.tokensPerSec)).toFixed(2)}x tokens/s\n`,
);
