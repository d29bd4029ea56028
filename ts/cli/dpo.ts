// `minilm dpo --config FILE [--dry_run] [overrides]`: preference tuning (DPO) of a fine-tuned checkpoint
// on prompt / chosen / rejected pairs, from sft's finetune YAML with a `dpo:` section. The run is sft's
// (ts/train/run.ts) with DPO's loss against the frozen starting checkpoint.
import type { Argv } from 'yargs';
import { DPO_SCHEMA } from '../config/dpo-schema.js';
import { loadDpoConfig } from '../config/sft-config.js';
import { overrideHelp } from './override-help.js';
import { describe, overrideTokens, runCommand } from './pretrain.js';

/** The flags `dpo` itself reads; every other `--key value` is an override of the config. */
const OWN_FLAGS = new Set(['--config', '--dry_run', '--dry-run']);

export function dpoCommand(yargs: Argv): Argv {
  return yargs.command(
    'dpo',
    "Preference-tune a checkpoint with DPO on prompt / chosen / rejected pairs (sft's YAML plus a dpo: section); overrides follow (--dpo.beta 0.2)",
    (y) =>
      y
        .strict(false)
        .option('config', { type: 'string', describe: "sft's finetune YAML with a dpo: section (e.g. configs/dpo.yaml)" })
        .option('dry_run', { alias: 'dry-run', type: 'boolean', default: false, describe: 'Resolve the config, print a summary and exit' })
        .example('$0 dpo --config configs/dpo.yaml', '')
        .example('$0 dpo --config configs/dpo.yaml --checkpoint_dir out/quickstart-sft/final --data.init_args.json_path data/pairs.jsonl', '')
        .epilog(overrideHelp(DPO_SCHEMA, 'docs/dpo.md')),
    async (argv) => {
      const overrides = overrideTokens(process.argv, 'dpo', OWN_FLAGS);
      const config = loadDpoConfig({ configFile: argv.config as string | undefined, overrides });
      if (argv.dry_run) {
        for (const warning of config.warnings) process.stdout.write(`warning: ${warning}\n`);
        for (const text of describe(config)) process.stdout.write(`${text}\n`);
        return;
      }
      await runCommand(config);
    },
  );
}
