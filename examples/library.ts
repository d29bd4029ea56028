// minilm as a library, end to end: prepare a corpus, train a small model, write the run report, sample.
//
//   npm start                                   # once: writes the sample corpus and tokenizer it uses
//   node --import tsx examples/library.ts       # about 25 s on 2 cores
//   node --import tsx examples/library.ts INPUT_DIR TOKENIZER_DIR WORK_DIR   # your own Parquet/JSONL/CSV
//
// Ctrl-C stops whichever step is running; run it again and prepare and pretrain resume where they were.
import path from 'node:path';
import { isCancelled, loadPretrainConfig, Model, prepare, pretrain, writeReport } from 'minilm';

const [inputDir = 'data/sample/raw', tokenizerDir = 'data/sample/tokenizer', workDir = 'out/library-example'] = process.argv.slice(2);
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());

try {
  // 1. Token shards in litdata's format (train/ and val/), tokenized on every core.
  const data = await prepare({ inputDir, outputDir: path.join(workDir, 'data'), tokenizerPath: tokenizerDir, valFraction: 0.02 }, { signal: stop.signal });
  console.log(`prepared ${data.train.tokens} training tokens, ${data.val.tokens} validation tokens`);

  // 2. A litgpt pretrain config given as an object (a YAML file works the same: { configFile }).
  const config = loadPretrainConfig({
    tree: {
      model_config: {
        name: 'example-3m',
        block_size: 128,
        vocab_size: 6400,
        n_layer: 4,
        n_head: 4,
        n_query_groups: 2,
        n_embd: 128,
        rotary_percentage: 1.0,
        parallel_residual: false,
        bias: false,
        norm_class_name: 'RMSNorm',
        mlp_class_name: 'LLaMAMLP',
        intermediate_size: 384,
      },
      out_dir: path.join(workDir, 'run'),
      resume: 'auto',
      data: { class_path: 'LitData', init_args: { data_path: path.join(workDir, 'data'), split_names: ['train', 'val'] } },
      train: {
        global_batch_size: 16,
        micro_batch_size: 8,
        max_tokens: 16 * 128 * 60,
        lr_warmup_steps: 5,
        save_interval: 30,
        tie_embeddings: true,
        min_lr: 1e-4,
      },
      eval: { interval: 20, max_iters: 4, initial_validation: true },
      optimizer: { class_path: 'AdamW', init_args: { lr: 3e-3, weight_decay: 0.1, betas: [0.9, 0.95] } },
      precision: '32-true',
      logger_name: 'csv',
    },
  });
  const summary = await pretrain(config, {
    signal: stop.signal,
    onLog: (event) => {
      if (event.type === 'validation') console.log(`step ${event.step}: val_loss ${event.val_loss.toFixed(3)}`);
    },
  });
  console.log(`trained ${summary.steps} steps (${summary.tokens} tokens) in ${summary.seconds.toFixed(0)} s`);

  // 3. The run report: curves, checkpoints and config in one HTML file.
  const report = writeReport(summary.out_dir, { png: true });
  console.log(`report: ${report.html}`);

  // 4. Sampling with a KV cache, streamed piece by piece.
  const model = await Model.load(summary.final_dir);
  const generation = model.generate('床前明月光', { maxNewTokens: 40, temperature: 0.8, repetitionPenalty: 1.2, seed: 7, signal: stop.signal });
  let text = '床前明月光';
  for await (const piece of generation) text += piece;
  console.log(text);
  console.log(`${generation.stats!.tokensPerSec.toFixed(1)} tokens/s after the first, which came after ${generation.stats!.firstTokenMs.toFixed(0)} ms`);
} catch (error) {
  if (!isCancelled(error)) throw error;
  console.log('stopped; run again to resume');
  process.exitCode = 130;
}
