// `minilm dpo`'s config: sft's finetune YAML (./sft-schema.ts: checkpoint_dir, data, train, eval,
// optimizer) with a `dpo:` section of TRL's DPOConfig names and defaults. data.init_args.json_path holds
// preference pairs (prompt / chosen / rejected) instead of conversations.
import { num, oneOf, path, type Section, section } from './pretrain-schema.js';
import { SFT_SCHEMA } from './sft-schema.js';

export const DPO_LOSS_TYPES = ['sigmoid', 'ipo'] as const;

export const DPO_SCHEMA: Section = {
  ...SFT_SCHEMA,
  keys: {
    ...SFT_SCHEMA.keys,
    out_dir: path('out/finetune/dpo'),
    dpo: section({
      // How far the policy may move from the reference: TRL's default.
      beta: num(0.1, { above: 0 }),
      loss_type: oneOf([...DPO_LOSS_TYPES], 'sigmoid'),
      // cDPO: the share of pairs assumed to be the wrong way round (sigmoid only).
      label_smoothing: num(0, { min: 0, max: 0.5 }),
    }),
  },
};
