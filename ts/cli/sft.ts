// `minilm sft --config FILE [--format F] [--dry_run] [overrides]`: litgpt's finetune_full YAML, with
// litgpt-style dotted overrides after it. The run itself is pretraining's (ts/train/run.ts) on SFT data.
import type { Argv } from 'yargs';
import { loadSftConfig } from '../config/sft-config.js';
import { CONVERSATION_FORMATS, SFT_SCHEMA } from '../config/sft-schema.js';
import { describe, overrideTokens, runCommand } from './pretrain.js';
import { overrideHelp } from './override-help.js';

/** The flags `sft` itself reads; every other `--key value` is an override of the config. */
export const OWN_FLAGS = new Set(['--config', '--dry_run', '--dry-run', '--format']);

export function sftCommand(yargs: Argv): Argv {
  return yargs.command(
    'sft',
    "Fine-tune a checkpoint on conversations (supervised fine-tuning) from litgpt's finetune_full YAML; overrides follow (--train.epochs 3)",
    (y) =>
      y
        .strict(false)
        .option('config', { type: 'string', describe: 'litgpt finetune_full YAML (e.g. configs/sft.yaml)' })
        .option('format', {
          type: 'string',
          choices: CONVERSATION_FORMATS,
          describe: "The conversations' format, when detecting it from each file's first record is not wanted (minilm.data_format)",
        })
        .option('dry_run', { alias: 'dry-run', type: 'boolean', default: false, describe: 'Resolve the config, print a summary and exit' })
        .example('$0 sft --config configs/sft.yaml', '')
        .example('$0 sft --config configs/sft.yaml --checkpoint_dir out/pretrain/final --data.init_args.json_path data/chat.jsonl', '')
        .epilog(overrideHelp(SFT_SCHEMA, 'docs/sft.md')),
    async (argv) => {
      const overrides = overrideTokens(process.argv, 'sft', OWN_FLAGS);
      if (argv.format !== undefined) overrides.push('--minilm.data_format', argv.format as string);
      const config = loadSftConfig({ configFile: argv.config as string | undefined, overrides });
      if (argv.dry_run) {
        for (const warning of config.warnings) process.stdout.write(`warning: ${warning}\n`);
        for (const text of describe(config)) process.stdout.write(`${text}\n`);
        return;
      }
      await runCommand(config);
    },
  );
}
