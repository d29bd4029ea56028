// The pretrain config layer: litgpt's own YAML files load unchanged and resolve as litgpt resolves them;
// overrides work as jsonargparse's; every refusal names the file or flag, the key and the reason.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadPretrainConfig, modelSize, type PretrainConfig } from '../ts/config/pretrain-config.js';
import { parseOverrides } from '../ts/config/overrides.js';
import { suggestKey, editDistance } from '../ts/config/suggest.js';
import YAML from 'yaml';
import { knownKeys, PRETRAIN_SCHEMA, type Leaf, type Section } from '../ts/config/pretrain-schema.js';
import { MinilmError } from '../ts/errors.js';
import { sharedDir } from './support/shared.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const referencePretrain = path.join(sharedDir, 'reference', 'pretrain.yaml');
const referenceContinue = path.join(sharedDir, 'reference', 'continue_pretrain.yaml');
const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'minilm-config-'));
after(() => fs.rmSync(cwd, { recursive: true, force: true }));

/** Writes a YAML file in the temp folder and returns its path. */
function yamlFile(name: string, text: string): string {
  const file = path.join(cwd, name);
  fs.writeFileSync(file, text);
  return file;
}

/** A small valid LLaMA config as a parsed tree. */
function tiny(): Record<string, any> {
  return {
    model_config: {
      block_size: 64,
      vocab_size: 100,
      n_layer: 2,
      n_head: 4,
      n_embd: 32,
      rotary_percentage: 1.0,
      parallel_residual: false,
      bias: false,
      norm_class_name: 'RMSNorm',
      mlp_class_name: 'LLaMAMLP',
      intermediate_size: 64,
    },
    data: { class_path: 'litgpt.data.LitData', init_args: { data_path: 'data/p' } },
    train: { global_batch_size: 8, micro_batch_size: 2 },
  };
}

/** Asserts that loading fails with InvalidArg and a message containing every fragment. */
function refuses(load: () => PretrainConfig, ...fragments: string[]): string {
  let message = '';
  assert.throws(load, (error: unknown) => {
    assert.ok(error instanceof MinilmError, `not a MinilmError: ${error}`);
    assert.equal(error.code, 'InvalidArg');
    message = error.message;
    for (const fragment of fragments) assert.ok(message.includes(fragment), `"${fragment}" not in: ${message}`);
    return true;
  });
  return message;
}

test('the reference pretrain.yaml loads unchanged and resolves as litgpt does', () => {
  const config = loadPretrainConfig({ configFile: referencePretrain, cwd });
  assert.equal(config.configFile, referencePretrain);
  assert.deepEqual(config.model, {
    name: 'MiniLM',
    block_size: 512,
    vocab_size: 6400,
    padded_vocab_size: 6400,
    n_layer: 16,
    n_head: 16,
    n_embd: 768,
    head_size: 48,
    n_query_groups: 8,
    rotary_percentage: 1,
    rope_base: 10000,
    norm_eps: 1e-5,
    intermediate_size: 2048,
    tie_embeddings: true,
  });
  assert.equal(modelSize(config.model, 512).parameters, 108_749_568);
  assert.equal(config.train.gradient_accumulation_steps, 8);
  assert.deepEqual(config.train, {
    save_interval: 1000,
    log_interval: 1,
    global_batch_size: 640,
    micro_batch_size: 80,
    gradient_accumulation_steps: 8,
    lr_warmup_steps: 2000,
    lr_warmup_fraction: null,
    max_tokens: 45_000_000_000,
    max_steps: null,
    max_seq_length: 512,
    max_norm: 1,
    min_lr: 1e-5,
  });
  assert.deepEqual(config.eval, { interval: 1000, max_new_tokens: null, max_iters: 100, initial_validation: false, final_validation: true });
  assert.deepEqual(config.optimizer, { lr: 0.001, weight_decay: 0.1, betas: [0.9, 0.95], eps: 1e-8 });
  assert.equal(config.out_dir, path.join(cwd, 'MiniLM/out/pretrain/minilm/108m'));
  assert.deepEqual(config.data, { data_path: path.join(cwd, 'MiniLM/data/pretrain/smol_chinese/processed'), split_names: null, mixture: null });
  assert.equal(config.tokenizer_dir, path.join(cwd, 'MiniLM/minimind_tokenizer'));
  assert.equal(config.initial_checkpoint_dir, null);
  assert.equal(config.resume, false);
  assert.equal(config.precision, 'bf16-mixed');
  assert.equal(config.devices, 'auto');
  assert.equal(config.logger_name, 'wandb');
  assert.equal(config.seed, 42);
  assert.equal(config.keep_last_checkpoints, null);
  assert.ok(
    config.warnings.some((w) => w.includes('wandb cannot be reached from here')),
    config.warnings.join('\n'),
  );
  // bf16 is judged where the run's device is chosen (bf16-mixed is fine on a GPU): test/device.test.ts.
  assert.ok(!config.warnings.some((w) => w.includes('bf16')), config.warnings.join('\n'));
});

test('untied embeddings count lm_head separately', () => {
  const config = loadPretrainConfig({ configFile: referencePretrain, cwd, overrides: ['--train.tie_embeddings', 'false'] });
  assert.equal(config.model.tie_embeddings, false);
  assert.equal(modelSize(config.model, 512).parameters, 113_664_768);
});

test('the reference continue_pretrain.yaml loads unchanged', () => {
  const config = loadPretrainConfig({ configFile: referenceContinue, cwd });
  assert.equal(config.initial_checkpoint_dir, path.join(cwd, 'MiniLM/out/pretrain/minilm/pretrained_checkpoint_converted'));
  assert.equal(config.resume, false);
  assert.equal(config.model.n_layer, 8);
  assert.equal(config.model.head_size, 32);
  assert.equal(config.train.gradient_accumulation_steps, 8);
  assert.equal(config.optimizer.lr, 1e-5);
  assert.equal(config.train.min_lr, 0);
  assert.equal(config.eval.initial_validation, true);
});

test("the repository's configs load, with paths inside the repository", () => {
  const pretrain = loadPretrainConfig({ configFile: 'configs/pretrain.yaml', cwd: repoRoot });
  assert.equal(modelSize(pretrain.model, 512).parameters, 108_749_568);
  assert.equal(pretrain.out_dir, path.join(repoRoot, 'out/pretrain/108m'));
  assert.deepEqual(pretrain.data, { data_path: path.join(repoRoot, 'data/pretrain/processed'), split_names: ['train', 'val'], mixture: null });
  assert.equal(pretrain.tokenizer_dir, path.join(repoRoot, 'data/pretrain/processed/tokenizer'));
  assert.ok(!pretrain.warnings.some((w) => w.includes('wandb')));

  const continued = loadPretrainConfig({ configFile: 'configs/continue_pretrain.yaml', cwd: repoRoot });
  assert.equal(continued.initial_checkpoint_dir, path.join(repoRoot, 'out/pretrain/108m/final'));
  assert.equal(continued.out_dir, path.join(repoRoot, 'out/pretrain/continued'));
  // It starts from pretrain.yaml's final weights, so it must describe the same model.
  assert.deepEqual(continued.model, pretrain.model);
});

test('overrides: jsonargparse style, values read as YAML, applied before validation', () => {
  const config = loadPretrainConfig({
    configFile: referencePretrain,
    cwd,
    overrides: [
      '--train.micro_batch_size',
      '4',
      '--out_dir=out/x',
      '--data.data_path',
      'p',
      '--optimizer.lr',
      '3e-4',
      '--optimizer.betas',
      '[0.9, 0.99]',
      '--train.max-steps',
      '100',
      '--tokenizer_dir',
      'null',
      '--resume=auto',
      '--initial_checkpoint_dir',
      '',
      '--data.split_names',
      '[tr, va]',
      '--minilm.keep_last_checkpoints',
      '2',
    ],
  });
  assert.equal(config.train.micro_batch_size, 4);
  assert.equal(config.train.gradient_accumulation_steps, 160);
  assert.equal(config.out_dir, path.join(cwd, 'out/x'));
  assert.deepEqual(config.data, { data_path: path.join(cwd, 'p'), split_names: ['tr', 'va'], mixture: null });
  assert.equal(config.optimizer.lr, 3e-4);
  assert.deepEqual(config.optimizer.betas, [0.9, 0.99]);
  assert.equal(config.train.max_steps, 100);
  assert.equal(config.tokenizer_dir, null);
  assert.equal(config.resume, 'auto');
  assert.equal(config.keep_last_checkpoints, 2);
  assert.deepEqual(
    parseOverrides(['--seed', '-1', '--log.run=a=b']).map((o) => [o.path.join('.'), o.value]),
    [
      ['seed', -1],
      ['log.run', 'a=b'],
    ],
  );
});

test('relative paths resolve against cwd; absolute ones stay', () => {
  const tree = { ...tiny(), out_dir: 'runs/a', resume: '/abs/ckpt', tokenizer_dir: '../tok' };
  const config = loadPretrainConfig({ tree, cwd });
  assert.equal(config.out_dir, path.join(cwd, 'runs/a'));
  assert.equal(config.resume, '/abs/ckpt');
  assert.equal(config.tokenizer_dir, path.resolve(cwd, '../tok'));
  assert.equal(config.data.data_path, path.join(cwd, 'data/p'));
  assert.equal(config.configFile, null);
});

test('litgpt defaults fill what a file leaves out; PyYAML booleans and empty values are read as litgpt reads them', () => {
  const file = yamlFile(
    'defaults.yaml',
    [
      'model_config:',
      '  block_size: 64',
      '  vocab_size: 100',
      '  n_layer: 2',
      '  n_head: 4',
      '  n_embd: 32',
      '  rotary_percentage: 1.0',
      '  parallel_residual: False',
      '  bias: no',
      '  norm_class_name: RMSNorm',
      '  mlp_class_name: LLaMAMLP',
      '  intermediate_size: 64',
      'data:',
      '  class_path: LitData',
      '  init_args:',
      '    data_path: d',
      'train:',
      '  tie_embeddings: yes',
      '  micro_batch_size: 4',
      'initial_checkpoint_dir:',
      'resume:',
      'eval:',
      '',
    ].join('\n'),
  );
  const config = loadPretrainConfig({ configFile: file, cwd });
  assert.equal(config.model.padded_vocab_size, 512); // rounded up to padding_multiple
  assert.equal(config.model.vocab_size, 100);
  assert.equal(config.model.n_query_groups, 4);
  assert.equal(config.model.head_size, 8);
  assert.equal(config.model.tie_embeddings, true);
  assert.equal(config.train.global_batch_size, 512);
  assert.equal(config.train.gradient_accumulation_steps, 128);
  assert.equal(config.train.max_tokens, 3e12);
  assert.equal(config.train.max_seq_length, 64);
  assert.equal(config.initial_checkpoint_dir, null);
  assert.equal(config.resume, false);
  assert.equal(config.eval.interval, 1000);
  assert.equal(config.logger_name, 'tensorboard');
  assert.equal(config.out_dir, path.join(cwd, 'out/pretrain'));
  assert.deepEqual(config.optimizer, { lr: 1e-3, weight_decay: 0.01, betas: [0.9, 0.999], eps: 1e-8 });
});

test('a misspelt key names the file and the nearest key', () => {
  const file = yamlFile('typo.yaml', fs.readFileSync(referencePretrain, 'utf8').replace('micro_batch_size:', 'micro_batchsize:'));
  refuses(() => loadPretrainConfig({ configFile: file, cwd }), `${file}: unknown key train.micro_batchsize; did you mean train.micro_batch_size?`);
  // A key in the wrong place is found by its name.
  assert.equal(suggestKey('data.data_path', knownKeys()), 'data.init_args.data_path');
  assert.equal(suggestKey('train.lr', knownKeys()), 'optimizer.init_args.lr');
  assert.equal(suggestKey('model_config.n_layers', knownKeys()), 'model_config.n_layer');
  assert.equal(editDistance('kitten', 'sitting'), 3);
});

test('a wrong type names the key path and the value', () => {
  const file = yamlFile('type.yaml', fs.readFileSync(referencePretrain, 'utf8').replace('micro_batch_size: 80', 'micro_batch_size: four'));
  refuses(() => loadPretrainConfig({ configFile: file, cwd }), `${file}: train.micro_batch_size must be a whole number >= 1, not 'four'`);
  refuses(() => loadPretrainConfig({ tree: { ...tiny(), train: 5 }, cwd }), 'config: train must be a mapping of keys, not 5');
});

test('architectures outside the LLaMA family are refused with the reason', () => {
  const file = yamlFile('norm.yaml', fs.readFileSync(referencePretrain, 'utf8').replace('norm_class_name: RMSNorm', 'norm_class_name: LayerNorm'));
  refuses(
    () => loadPretrainConfig({ configFile: file, cwd }),
    `${file}: model_config.norm_class_name: LayerNorm is not supported: minilm implements the LLaMA family (RMSNorm); use RMSNorm`,
  );
  const tree = tiny();
  delete tree.model_config.parallel_residual; // litgpt's default, true, applies
  refuses(() => loadPretrainConfig({ tree, cwd }), "model_config.parallel_residual: true (litgpt's default", 'use false');
  refuses(
    () => loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--model_config.n_expert', '8'] }),
    '--model_config.n_expert: model_config.n_expert: 8 is not supported',
    'mixture-of-experts',
  );
  refuses(() => loadPretrainConfig({ tree: { ...tiny(), model_config: { ...tiny().model_config, name: 'Gemma-tiny' } }, cwd }), 'Gemma');
});

test('other refusals say why', () => {
  refuses(() => loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--train.epochs', '2'] }), '--train.epochs', "litgpt's pretrain rejects it too");
  refuses(() => loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--num_nodes', '0'] }), 'num_nodes must be a whole number >= 1');
  refuses(() => loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--optimizer.amsgrad', 'true'] }), 'optimizer.init_args.amsgrad: true is not supported');
  refuses(() => loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--optimizer', 'SGD'] }), 'optimizer.class_path: SGD is not supported');
  refuses(
    () => loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--data.class_path', 'litgpt.data.TextFiles'] }),
    'data.class_path: litgpt.data.TextFiles is not supported',
  );
  refuses(() => loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--data.data_path', 's3://bucket/x'] }), 'must be a local path');
  const named: Record<string, unknown> = { ...tiny(), model_name: 'pythia-14m' };
  delete named.model_config;
  refuses(() => loadPretrainConfig({ tree: named, cwd }), 'minilm has no table of litgpt model names; give model_config');
});

test('global_batch_size must be a multiple of micro_batch_size; the error names both keys and the flag', () => {
  const message = refuses(
    () => loadPretrainConfig({ configFile: referencePretrain, cwd, overrides: ['--train.micro_batch_size', '7'] }),
    'train.global_batch_size (640) must be a multiple of train.micro_batch_size (7)',
    '--train.micro_batch_size',
  );
  assert.ok(message.startsWith(`${referencePretrain}, --train.micro_batch_size: `), message);
});

test('litgpt-derived checks: max_seq_length, query groups, required keys, warmup, initial_checkpoint_dir vs resume', () => {
  const load =
    (...overrides: string[]) =>
    () =>
      loadPretrainConfig({ tree: tiny(), cwd, overrides });
  refuses(load('--train.max_seq_length', '65'), 'train.max_seq_length (65) is longer than model_config.block_size (64)');
  refuses(load('--model_config.n_query_groups', '3'), 'model_config.n_head (4) must be a multiple of model_config.n_query_groups (3)');
  refuses(load('--train.max_tokens', 'null'), 'train.max_tokens is required');
  refuses(load('--train.max_norm', 'null'), 'train.max_norm is required');
  refuses(load('--model_config.rotary_percentage', '0.375'), 'RoPE rotates pairs');
  refuses(load('--train.lr_warmup_fraction', '0.1', '--train.lr_warmup_steps', '100'), 'choose one');
  refuses(load('--train.lr_warmup_fraction', '1.5'), 'train.lr_warmup_fraction must be a number >= 0 and <= 1');
  refuses(load('--initial_checkpoint_dir', 'ck', '--resume', 'true'), 'initial_checkpoint_dir and resume are both set');
  const warmup = loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--train.lr_warmup_fraction', '0.1'] });
  assert.deepEqual([warmup.train.lr_warmup_fraction, warmup.train.lr_warmup_steps], [0.1, 0]);
  const padded = loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--model_config.padded_vocab_size', '64'] });
  assert.deepEqual([padded.model.vocab_size, padded.model.padded_vocab_size], [64, 64]);
});

test('file errors: missing file, YAML syntax with its line, empty file, a flag without a value', () => {
  refuses(() => loadPretrainConfig({ configFile: 'nope.yaml', cwd }), 'nope.yaml: cannot read the config file: no such file');
  const bad = yamlFile('bad.yaml', 'train:\n  micro_batch_size: 4\n  global_batch_size: [8\n');
  refuses(() => loadPretrainConfig({ configFile: bad, cwd }), `${bad}: YAML syntax error at line `);
  const duplicate = yamlFile('dup.yaml', 'seed: 1\nseed: 2\n');
  refuses(() => loadPretrainConfig({ configFile: duplicate, cwd }), 'line 2', 'unique');
  refuses(() => loadPretrainConfig({ configFile: yamlFile('empty.yaml', '# nothing\n'), cwd }), 'the file is empty');
  refuses(() => loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--train.micro_batch_size'] }), '--train.micro_batch_size needs a value');
  refuses(() => loadPretrainConfig({ tree: tiny(), cwd, overrides: ['train.micro_batch_size=4'] }), "unexpected argument 'train.micro_batch_size=4'");
  refuses(() => loadPretrainConfig({ tree: tiny(), cwd, overrides: ['--train.foo', '1'] }), '--train.foo: unknown key train.foo');
});

test('the library form takes a parsed tree and never changes it', () => {
  const tree = tiny();
  const before = JSON.stringify(tree);
  const config = loadPretrainConfig({ tree, cwd, overrides: ['--train.micro_batch_size', '8', '--minilm.keep_last_checkpoints', '3'] });
  assert.equal(config.train.gradient_accumulation_steps, 1);
  assert.equal(config.keep_last_checkpoints, 3);
  assert.equal(JSON.stringify(tree), before);
  refuses(
    () => loadPretrainConfig({ tree: { ...tiny(), minilm: { keep_last_checkpoints: 0 } }, cwd }),
    'minilm.keep_last_checkpoints must be a whole number >= 1, or null, not 0',
  );
});

test("the config reference (docs/pretrain.md) lists every key with litgpt's default, and marks every refused key", () => {
  const page = fs.readFileSync(path.join(repoRoot, 'docs/pretrain.md'), 'utf8');
  const section = page.split('\n## Config reference\n')[1]?.split('\n## ')[0];
  assert.ok(section, 'docs/pretrain.md has a "## Config reference" section');
  const rows = new Map<string, { defaultCell: string; meaning: string }>();
  let prefix = '';
  for (const line of section.split('\n')) {
    const heading = /^### (.+)$/.exec(line);
    if (heading) prefix = heading[1] === 'Top level' ? '' : `${heading[1]}.`;
    const row = /^\| `([^`]+)` \| `([^`]*)` \| (.+) \|$/.exec(line);
    if (row) rows.set(prefix + row[1], { defaultCell: row[2], meaning: row[3] });
  }
  const leaves: Array<[string, Leaf]> = [];
  const walk = (node: Section, at: string) => {
    for (const [key, child] of Object.entries(node.keys)) {
      const here = at ? `${at}.${key}` : key;
      if (child.kind === 'section') walk(child, here);
      else leaves.push([here, child]);
    }
  };
  walk(PRETRAIN_SCHEMA, '');
  assert.deepEqual([...rows.keys()].sort(), leaves.map(([key]) => key).sort(), 'one row per key, no row for a key that does not exist');
  for (const [key, leaf] of leaves) {
    const { defaultCell, meaning } = rows.get(key)!;
    assert.deepEqual(YAML.parse(defaultCell === '' ? "''" : defaultCell) ?? null, leaf.default, `${key}: the default shown is litgpt's`);
    const refused = /\*\*Refused\*\* unless `([^`]*)`/.exec(meaning);
    assert.equal(refused !== null, leaf.only !== undefined, `${key}: marked refused exactly when minilm refuses other values`);
    if (refused && leaf.only) assert.ok(leaf.only.test(leaf.parse(YAML.parse(refused[1]))), `${key}: the value the reference allows is accepted`);
  }
});
