// `npm start` / `minilm quickstart`: the whole job on the sample corpus, each step reusing its output
// when run again: poetry -> parquet, a 6400-token BPE, prepare, pretrain configs/quickstart.yaml, generate;
// with --chat, then SFT on poetry conversations (configs/sft.yaml) and held-out questions.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv } from 'yargs';
import { loadPretrainConfig } from '../config/pretrain-config.js';
import { writeParquetTexts } from '../data/parquet.js';
import { poems } from '../data/sample-corpus.js';
import { poetryConversations } from '../data/sample-chat.js';
import { loadSftConfig } from '../config/sft-config.js';
import { trainTokenizer } from '../data/tokenizer.js';
import { Model } from '../model/model.js';
import { runPrepare } from './prepare.js';
import { runPretrain } from './pretrain.js';
import { positiveInteger } from './validate.js';
import { writeReport } from '../report/report.js';
import { shellPath } from '../log/format.js';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PROMPT = '床前明月光';

const say = (line: string) => process.stderr.write(`\n== ${line}\n`);

export function quickstartCommand(yargs: Argv): Argv {
  return yargs.command(
    'quickstart',
    'Run the whole job on the sample poetry corpus: corpus, tokenizer, prepare, pretrain (~5 min on 2 cores), generate',
    (y) =>
      y
        .option('data_dir', { alias: 'data-dir', type: 'string', default: 'data/sample', describe: 'Corpus, tokenizer and prepared data' })
        .option('out_dir', { alias: 'out-dir', type: 'string', default: 'out/quickstart', describe: 'Checkpoints and logs' })
        .option('fresh', { type: 'boolean', default: false, describe: 'Delete data_dir and out_dir first instead of reusing them' })
        .option('poems', { type: 'number', default: 60000, describe: 'Poems in the sample corpus' })
        .option('max_steps', { alias: 'max-steps', type: 'number', describe: 'Stop training after this many steps (a shorter run, for tests)' })
        .option('chat', {
          type: 'boolean',
          default: false,
          describe: 'Then fine-tune the model on poetry conversations (configs/sft.yaml, ~1.5 min) and answer held-out questions',
        }),
    async (argv) => {
      const dataDir = path.resolve(argv.data_dir as string);
      const outDir = path.resolve(argv.out_dir as string);
      const count = positiveInteger('poems', argv.poems as number);
      if (argv.fresh) for (const dir of [dataDir, outDir, `${outDir}-sft`]) rmSync(dir, { recursive: true, force: true });

      const corpus = path.join(dataDir, 'raw', 'poems.parquet');
      say(`1/5 sample corpus: ${count.toLocaleString('en-US')} Tang and Song poems from the chinese-poetry package`);
      if (existsSync(corpus)) process.stderr.write(`reusing ${corpus}\n`);
      else {
        mkdirSync(path.dirname(corpus), { recursive: true });
        writeParquetTexts(`${corpus}.partial`, [[...poems(count)]]);
        renameSync(`${corpus}.partial`, corpus);
        process.stderr.write(`wrote ${corpus}\n`);
      }

      const tokenizer = path.join(dataDir, 'tokenizer');
      say('2/5 tokenizer: a 6400-token byte-level BPE trained on the corpus');
      if (existsSync(path.join(tokenizer, 'tokenizer.json'))) process.stderr.write(`reusing ${tokenizer}\n`);
      else {
        rmSync(`${tokenizer}.partial`, { recursive: true, force: true });
        await trainTokenizer({ inputDir: path.dirname(corpus), outputDir: `${tokenizer}.partial`, vocabSize: 6400 });
        renameSync(`${tokenizer}.partial`, tokenizer);
        process.stderr.write(`wrote ${tokenizer}\n`);
      }

      const prepared = path.join(dataDir, 'prepared');
      say('3/5 prepare: tokenize into train/ and val/ shards (resumes if interrupted)');
      await runPrepare({ inputDir: path.dirname(corpus), outputDir: prepared, tokenizerPath: tokenizer, valFraction: 0.02 });

      const final = path.join(outDir, 'final');
      say('4/5 pretrain configs/quickstart.yaml (resumes if interrupted; Ctrl-C saves a checkpoint)');
      if (existsSync(final)) process.stderr.write(`reusing ${final} (--fresh trains again)\n`);
      else {
        const overrides = ['--out_dir', outDir, '--data.init_args.data_path', prepared, '--tokenizer_dir', tokenizer];
        if (argv.max_steps !== undefined) overrides.push('--train.max_steps', String(positiveInteger('max_steps', argv.max_steps as number)));
        await runPretrain(loadPretrainConfig({ configFile: path.join(packageRoot, 'configs/quickstart.yaml'), overrides }));
      }

      say(`5/5 generate: a continuation of ${PROMPT}`);
      const model = await Model.load(final);
      let text = PROMPT;
      for await (const piece of model.generate(PROMPT, { maxNewTokens: 60, repetitionPenalty: 1.2, seed: 1234 })) text += piece;
      process.stdout.write(`\n${text}\n\n`);
      const report = writeReport(outDir, { png: true });
      process.stdout.write(
        `corpus      ${corpus}\ntokenizer   ${tokenizer}\nprepared    ${prepared}\ncheckpoint  ${final}\n` +
          `metrics     ${path.join(outDir, 'logs/csv/version_0/metrics.csv')}\n` +
          `report      ${report.html} (curves, checkpoints, config; open in a browser)\nloss plot   ${report.png}\n\n` +
          `next: npx minilm generate ${shellPath(final)} --prompt "${PROMPT}" --repetition_penalty 1.2\n`,
      );
      if (argv.chat) await fineTuneForChat(dataDir, outDir, final, argv.max_steps as number | undefined);
    },
  );
}

/** Conversations held out of the fine-tuning data: the demo's questions. */
const HELD_OUT = 40;

/**
 * `--chat`: poetry conversations from the same corpus, SFT of the quickstart model on them, and the
 * held-out questions asked of the base and the fine-tuned model: how often each ends its reply with the
 * template's end token, and a few replies.
 */
async function fineTuneForChat(dataDir: string, outDir: string, base: string, maxSteps: number | undefined): Promise<void> {
  const sftDir = path.join(dataDir, 'sft');
  const trainFile = path.join(sftDir, 'poetry-chat.jsonl');
  const all = [...poetryConversations(Number.MAX_SAFE_INTEGER)];
  const heldOut = all.slice(-HELD_OUT);
  say(`6/6 chat: fine-tune on ${all.length - HELD_OUT} poetry conversations (configs/sft.yaml), then ask ${HELD_OUT} held-out questions`);
  if (!existsSync(trainFile)) {
    mkdirSync(sftDir, { recursive: true });
    writeFileSync(
      `${trainFile}.partial`,
      `${all
        .slice(0, -HELD_OUT)
        .map((c) => JSON.stringify(c))
        .join('\n')}\n`,
    );
    renameSync(`${trainFile}.partial`, trainFile);
  }
  const tunedDir = `${outDir}-sft`;
  const final = path.join(tunedDir, 'final');
  if (existsSync(final)) process.stderr.write(`reusing ${final} (--fresh trains again)\n`);
  else {
    const overrides = ['--checkpoint_dir', base, '--out_dir', tunedDir, '--data.init_args.json_path', trainFile];
    if (maxSteps !== undefined) overrides.push('--train.max_steps', String(maxSteps));
    await runPretrain(loadSftConfig({ configFile: path.join(packageRoot, 'configs/sft.yaml'), overrides }));
  }
  const ask = async (dir: string) => {
    const model = await Model.load(dir);
    let ended = 0;
    let shaped = 0;
    const replies: string[] = [];
    for (const conversation of heldOut) {
      const [question, answer] = conversation.conversations;
      const reply = model.chat([question], { maxNewTokens: 64, temperature: 0 });
      for await (const _piece of reply);
      if (reply.stats?.stop === 'eos') ended += 1;
      if (answerShape(answer.content).test(reply.text.trim())) shaped += 1;
      replies.push(`${question.content} -> ${reply.text.replaceAll('\n', ' / ')}`);
    }
    return { ended, shaped, replies };
  };
  const before = await ask(base);
  const after = await ask(final);
  process.stdout.write(
    `\nheld-out questions (greedy, at most 64 tokens), base model -> fine-tuned:\n` +
      `  reply ended with the template's end token  ${before.ended}/${HELD_OUT} -> ${after.ended}/${HELD_OUT}\n` +
      `  reply in the shape asked for               ${before.shaped}/${HELD_OUT} -> ${after.shaped}/${HELD_OUT}\n\n` +
      `${after.replies.slice(0, 4).join('\n')}\n\n` +
      `next: npx minilm chat ${shellPath(final)}   or   npx minilm serve ${shellPath(final)}\n`,
  );
}

/** The shape of an answer of the instruction set: 《X》的作者是Y。, or two lines of two five-character halves. */
function answerShape(answer: string): RegExp {
  return answer.includes('的作者是')
    ? /^《[^》]+》的作者是\p{Script=Han}{1,6}。$/u
    : /^\p{Script=Han}{5}，\p{Script=Han}{5}[。！？]\n\p{Script=Han}{5}，\p{Script=Han}{5}[。！？]$/u;
}
