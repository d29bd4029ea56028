// The keys of litgpt's pretrain config (litgpt.pretrain.setup, TrainArgs, EvalArgs, LogArgs, litgpt.Config,
// LitData, torch.optim.AdamW) with the defaults litgpt gives them, so a litgpt YAML file means the same
// run here. Defaults are pretrain's own (setup's TrainArgs(...) instance), not the dataclass defaults:
// jsonargparse fills keys a file leaves out from that instance.
//
// minilm implements one architecture, litgpt's LLaMA family. Keys that select another one keep their litgpt
// type and default but carry `only`: any other value (the default included, when the file leaves the key out)
// is refused with the reason, never silently ignored. Keys that change nothing here (hf_config, log.*,
// data.init_args.num_workers, torch's AdamW speed flags) are accepted as they are.

import { suggestKey } from './suggest.js';

/** Returned by a leaf's parse for a value of the wrong type. */
export const BAD: unique symbol = Symbol('bad value');

export interface Leaf {
  kind: 'leaf';
  default: unknown;
  /** What a good value looks like, for "must be ...". */
  expected: string;
  /** The value normalised (PyYAML booleans to booleans), or BAD. */
  parse: (value: unknown) => unknown;
  only?: { test: (value: unknown) => boolean; why: string };
}

/** classForm: jsonargparse's class section, where a bare string is the class_path (`optimizer: AdamW`). */
export type Section = { kind: 'section'; keys: Record<string, Node>; classForm?: boolean };

export type Node = Leaf | Section;

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function leaf(def: unknown, expected: string, ok: (v: unknown) => unknown, nullable = def === null): Leaf {
  return {
    kind: 'leaf',
    default: def,
    expected: nullable ? `${expected}, or null` : expected,
    parse: (v) => (v === null && nullable ? null : ok(v)),
  };
}

function int(def: number | null, min?: number, nullable = def === null): Leaf {
  const text = min === undefined ? 'a whole number' : `a whole number >= ${min}`;
  const ok = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= (min ?? -Infinity) ? v : BAD);
  return leaf(def, text, ok, nullable);
}

function num(def: number | null, range: { above?: number; min?: number; max?: number } = {}, nullable = def === null): Leaf {
  const { above, min, max } = range;
  const parts = [above !== undefined && `> ${above}`, min !== undefined && `>= ${min}`, max !== undefined && `<= ${max}`].filter(Boolean).join(' and ');
  const fits = (v: number) => Number.isFinite(v) && (above === undefined || v > above) && (min === undefined || v >= min) && (max === undefined || v <= max);
  return leaf(def, parts ? `a number ${parts}` : 'a number', (v) => (typeof v === 'number' && fits(v) ? v : BAD), nullable);
}

// litgpt reads YAML with PyYAML (YAML 1.1), where yes/no/on/off are booleans too.
const PYYAML_BOOLEANS: Record<string, boolean> = { true: true, yes: true, on: true, false: false, no: false, off: false };

export function parseBoolean(v: unknown): boolean | typeof BAD {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(?:[a-z]+|[A-Z][a-z]+|[A-Z]+)$/.test(v)) return PYYAML_BOOLEANS[v.toLowerCase()] ?? BAD;
  return BAD;
}

const bool = (def: boolean | null, nullable = def === null) => leaf(def, 'true or false', parseBoolean, nullable);
const str = (def: string | null) => leaf(def, 'a string', (v) => (typeof v === 'string' ? v : BAD));
const any = (def: unknown) => leaf(def, 'any value', (v) => v, true);
const oneOf = (values: readonly string[], def: string | null) =>
  leaf(def, `one of ${values.join(', ')}`, (v) => (typeof v === 'string' && values.includes(v) ? v : BAD));

/** A local folder. Resolved against the working directory later, as litgpt's Path arguments are. */
export function path(def: string | null): Leaf {
  const ok = (v: unknown) => (typeof v === 'string' && v !== '' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : BAD);
  return leaf(def, 'a local path', ok);
}

function pair(def: [unknown, unknown] | null, expected: string, item: (v: unknown) => boolean): Leaf {
  return leaf(def, expected, (v) => (Array.isArray(v) && v.length === 2 && v.every(item) ? [v[0], v[1]] : BAD));
}

/** The leaf, restricted to `value` (or to any of several values, given as an array). */
function only(base: Leaf, value: unknown, why: string, ...more: unknown[]): Leaf {
  const allowed = [value, ...more].map((v) => JSON.stringify(v));
  return { ...base, only: { test: (v) => allowed.includes(JSON.stringify(v)), why } };
}

const section = (keys: Record<string, Node>, classForm = false): Section => ({ kind: 'section', keys, classForm });

const LLAMA = 'minilm implements the LLaMA family';
const NORMS = `${LLAMA}: one RMSNorm before attention and one before the MLP`;

const MODEL_CONFIG = section({
  name: str(''),
  hf_config: leaf({}, 'a mapping', (v) => (isMapping(v) ? v : BAD), true),
  block_size: int(4096, 1),
  n_layer: int(16, 1),
  n_embd: int(4096, 1),
  vocab_size: int(50254, 1),
  padding_multiple: int(512, 1),
  padded_vocab_size: int(null, 1),
  norm_class_name: only(str('LayerNorm'), 'RMSNorm', `${LLAMA} (RMSNorm); use RMSNorm`),
  norm_eps: num(1e-5, { above: 0 }),
  norm_qk: only(bool(false), false, `${LLAMA}, which has no query/key norms; use false`),
  norm_qk_type: str('default'), // only read when norm_qk is true
  post_attention_norm: only(bool(false), false, `${NORMS}; use false`),
  post_mlp_norm: only(bool(false), false, `${NORMS}; use false`),
  parallel_residual: only(bool(true), false, `${LLAMA}, whose blocks add attention, then the MLP, in sequence; use false`),
  shared_attention_norm: only(bool(false), false, `${NORMS}; use false`),
  norm_1: only(bool(true), true, `${NORMS}; use true`),
  norm_2: only(bool(true), true, `${NORMS}; use true`),
  n_head: int(32, 1),
  head_size: int(null, 1),
  n_query_groups: int(null, 1),
  attn_bias: only(bool(false), false, `${LLAMA}, whose linear layers have no bias; use false`),
  attention_scores_scalar: only(num(null), null, 'minilm scales attention scores by 1/sqrt(head_size), as LLaMA does; use null'),
  sliding_window_size: only(int(null, 1), null, 'minilm attends over the whole block (no sliding window); use null'),
  sliding_window_indices: any(null), // only read with sliding_window_size
  sliding_window_layer_placing: any(null), // litgpt <= 0.5's name for the same thing
  attention_logit_softcapping: only(num(null), null, `softcapping (Gemma 2) is not part of the LLaMA family minilm implements; use null`),
  rope_base: num(10000, { above: 0 }),
  rotary_percentage: num(0.25, { above: 0, max: 1 }),
  rope_condense_ratio: only(int(1, 1), 1, 'minilm implements plain RoPE, without position interpolation; use 1'),
  rope_adjustments: only(any(null), null, 'minilm implements plain RoPE, without Llama 3.1 frequency adjustments; use null'),
  rope_interleave: only(bool(false), false, "minilm rotates in litgpt's default half-split (NeoX) layout; use false"),
  rope_local_base_freq: only(num(null), null, 'minilm uses one RoPE base in every layer; use null'),
  rope_indices: only(any(null), null, 'minilm uses one RoPE base in every layer; use null'),
  intermediate_size: int(null, 1),
  moe_intermediate_size: int(null, 1), // only read by mixture-of-experts MLPs
  bias: only(bool(true), false, `${LLAMA}, whose linear layers have no bias; use false`),
  mlp_class_name: only(str('GptNeoxMLP'), 'LLaMAMLP', `${LLAMA} (LLaMAMLP: proj(silu(fc_1(x)) * fc_2(x))); use LLaMAMLP`),
  gelu_approximate: str('none'), // only read by GELU MLPs
  n_expert: only(int(0, 0), 0, 'minilm implements dense models, not mixture-of-experts; use 0'),
  n_expert_per_token: int(0, 0),
  // litgpt 0.5.13's mixture-of-experts settings (DeepSeek-style routing): only read when n_expert > 0,
  // which is refused above, so any value changes nothing.
  n_shared_expert: int(null, 0),
  n_expert_groups: int(null, 1),
  n_topk_groups: int(null, 1),
  n_topk_scores_per_group: int(null, 1),
  first_k_dense_replace: int(null, 0),
  routed_scaling_factor: num(1.0),
  norm_topk_prob: bool(false),
  scale_embeddings: only(bool(false), false, `${LLAMA}, which does not scale embeddings (Gemma does); use false`),
  lm_head_bias: only(bool(false), false, `${LLAMA}, whose linear layers have no bias; use false`),
  final_logit_softcapping: only(num(null), null, 'softcapping (Gemma 2) is not part of the LLaMA family minilm implements; use null'),
  latent_attention: only(any(null), null, 'latent attention (DeepSeek) is not part of the LLaMA family minilm implements; use null'),
});

/** The class_path values of a weighted mixture of prepared datasets (minilm's own data module). */
export const MIXTURE_CLASSES = ['minilm.data.Mixture', 'Mixture'];

const DATA = section(
  {
    class_path: only(
      str('litgpt.data.LitData'),
      'litgpt.data.LitData',
      "minilm trains on token shards in litdata's format (what `minilm prepare` writes), which litgpt reads with litgpt.data.LitData; use LitData, or minilm.data.Mixture for several such datasets by weight",
      'LitData',
      ...MIXTURE_CLASSES,
    ),
    init_args: section({
      data_path: path('data/'),
      split_names: pair(null, 'a list of two folder names [train, val]', (v) => typeof v === 'string' && v !== ''),
      seed: int(42, 0),
      num_workers: int(8, 0),
      // minilm.data.Mixture's: each {path, weight, name?}, checked in pretrain-config.ts.
      sources: leaf(null, 'a list of {path: FOLDER, weight: NUMBER, name: NAME}', (v) => (Array.isArray(v) ? v : BAD)),
      on_exhausted: oneOf(['repeat', 'stop'], 'repeat'),
    }),
  },
  true,
);

const ADAMW_ONLY = "minilm's optimizer is plain AdamW, as litgpt's default is; use false";

const OPTIMIZER = section(
  {
    class_path: only(str('torch.optim.AdamW'), 'torch.optim.AdamW', "minilm implements AdamW, litgpt's default optimizer; use AdamW", 'AdamW'),
    init_args: section({
      lr: num(1e-3, { above: 0 }),
      weight_decay: num(0.01, { min: 0 }),
      betas: pair([0.9, 0.999], 'a list of two numbers in [0, 1), like [0.9, 0.95]', (v) => typeof v === 'number' && v >= 0 && v < 1),
      eps: num(1e-8, { above: 0 }),
      amsgrad: only(bool(false), false, ADAMW_ONLY),
      maximize: only(bool(false), false, ADAMW_ONLY),
      // torch's implementation choices: they change speed, not results.
      foreach: bool(null),
      capturable: bool(false),
      differentiable: bool(false),
      fused: bool(null),
    }),
  },
  true,
);

const TRAIN = section({
  save_interval: int(1000, 1),
  log_interval: int(1, 1),
  global_batch_size: int(512, 1),
  micro_batch_size: int(4, 1),
  lr_warmup_steps: int(2000, 0, true),
  lr_warmup_fraction: num(null, { min: 0, max: 1 }),
  epochs: only(int(null, 1), null, "litgpt's pretrain rejects it too: a run ends at train.max_tokens (or train.max_steps); remove it or use null"),
  max_tokens: int(3e12, 1, true), // Optional in litgpt's type, then required by pretrain: checked later
  max_steps: int(null, 1),
  max_time: only(num(null), null, 'minilm does not stop on a clock; bound the run with train.max_steps or train.max_tokens'),
  max_seq_length: int(null, 1),
  tie_embeddings: bool(false, true),
  max_norm: num(1.0, { above: 0 }, true), // as max_tokens
  min_lr: num(4e-5, { min: 0 }),
});

const EVAL = section({
  interval: int(1000, 1),
  max_new_tokens: int(null, 1),
  max_iters: int(100, 1),
  initial_validation: bool(false),
  final_validation: bool(true),
  evaluate_example: any('first'), // finetuning only
});

// An empty `resume:` means not resuming, like false.
const RESUME = leaf(false, 'false, true, auto or a checkpoint folder', (v) =>
  v === null ? false : parseBoolean(v) !== BAD ? parseBoolean(v) : v === 'auto' ? v : path('').parse(v),
);

const DEVICES = leaf('auto', 'auto or a whole number >= 1 (or -1, all)', (v) =>
  v === 'auto' || (Number.isSafeInteger(v) && ((v as number) >= 1 || v === -1)) ? v : BAD,
);

export const PRETRAIN_SCHEMA: Section = section({
  model_name: str(null),
  model_config: MODEL_CONFIG,
  out_dir: path('out/pretrain'),
  precision: oneOf(['bf16-true', 'bf16-mixed', '32-true'], null),
  initial_checkpoint_dir: path(null),
  resume: RESUME,
  data: DATA,
  train: TRAIN,
  eval: EVAL,
  optimizer: OPTIMIZER,
  devices: DEVICES,
  num_nodes: int(1, 1),
  tokenizer_dir: path(null),
  logger_name: oneOf(['csv', 'tensorboard', 'wandb'], 'tensorboard'),
  seed: int(42, 0),
  log: section({
    project: str(null),
    run: str(null),
    group: str(null),
    teamspace: str(null),
    metadata: any(null),
    log_model: bool(false),
    save_logs: bool(true),
    checkpoint_name: str(null),
  }),
  // minilm's own section (litgpt has no such key, so litgpt would refuse a file that has it):
  //   keep_last_checkpoints: null keeps every out_dir/step-* folder, as litgpt does (about 1.3 GB each at
  //   108M parameters); K >= 1 deletes all but the newest K after each save. final/ is never deleted.
  //   shard_optimizer: data-parallel ranks each keep 1/N of AdamW's moments (ZeRO-1, docs/data-parallel.md).
  minilm: section({ keep_last_checkpoints: int(null, 1), shard_optimizer: bool(false) }),
});

// The pieces other litgpt entry points' schemas (sft-schema.ts) are built from.
export { any, bool, DEVICES, EVAL, int, num, oneOf, only, OPTIMIZER, RESUME, section, str };

/** Where a problem is, as a dotted key path, and what it is (without the file or flag it came from). */
export type Problem = { path: string; message: string };

/** Every dotted key path the schema knows, sections included. */
export function knownKeys(node: Section = PRETRAIN_SCHEMA, prefix = ''): string[] {
  return Object.entries(node.keys).flatMap(([key, child]) => {
    const here = prefix ? `${prefix}.${key}` : key;
    return child.kind === 'section' ? [here, ...knownKeys(child, here)] : [here];
  });
}

/** A value as an error message quotes it: strings in quotes, the rest as JSON, long ones cut. */
export function show(value: unknown, quoteStrings = true): string {
  if (typeof value === 'string') return quoteStrings ? `'${value}'` : value;
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Checks `tree` against the schema: every key known, every value of its type and supported. Returns the
 * tree with defaults filled in and values normalised; problems are pushed, not thrown, so the user sees
 * them all at once. `given` receives the dotted paths the tree set (as opposed to defaults).
 */
export function normalizeTree(tree: unknown, problems: Problem[], given: Set<string>, schema: Section = PRETRAIN_SCHEMA): Record<string, unknown> {
  return normalizeSection(schema, tree, '', { problems, given, known: knownKeys(schema) });
}

type Walk = { problems: Problem[]; given: Set<string>; known: string[] };

function normalizeSection(node: Section, tree: unknown, prefix: string, walk: Walk): Record<string, unknown> {
  let value = tree ?? {}; // `train:` with nothing under it is an empty section, as in litgpt
  if (node.classForm && typeof value === 'string') value = { class_path: value };
  if (!isMapping(value)) {
    walk.problems.push({ path: prefix, message: `${prefix || 'the top level'} must be a mapping of keys, not ${show(value)}` });
    value = {};
  }
  const given = value as Record<string, unknown>;
  const names = Object.keys(node.keys);
  for (const key of Object.keys(given).filter((k) => !Object.hasOwn(node.keys, k))) {
    const here = prefix ? `${prefix}.${key}` : key;
    const guess = suggestKey(here, walk.known);
    const hint = guess
      ? `did you mean ${guess}?`
      : names.length <= 20
        ? `the keys of ${prefix || 'the top level'} are ${names.join(', ')}`
        : `see litgpt's ${prefix === 'model_config' ? 'litgpt.Config' : 'pretrain config'} for the keys`;
    walk.problems.push({ path: here, message: `unknown key ${here}; ${hint}` });
  }
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(node.keys)) {
    const here = prefix ? `${prefix}.${key}` : key;
    if (given[key] !== undefined) walk.given.add(here);
    out[key] = child.kind === 'section' ? normalizeSection(child, given[key], here, walk) : normalizeLeaf(child, given[key], here, walk);
  }
  return out;
}

function normalizeLeaf(node: Leaf, value: unknown, here: string, walk: Walk): unknown {
  const fromDefault = value === undefined;
  const raw = fromDefault ? node.default : value;
  const parsed = node.parse(raw);
  if (parsed === BAD) {
    walk.problems.push({ path: here, message: `${here} must be ${node.expected}, not ${show(raw)}` });
    return node.default;
  }
  if (node.only && !node.only.test(parsed)) {
    const origin = fromDefault ? " (litgpt's default, which applies because the key is not set)" : '';
    walk.problems.push({ path: here, message: `${here}: ${show(parsed, false)}${origin} is not supported: ${node.only.why}` });
  }
  return parsed;
}
