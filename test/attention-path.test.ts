// Which attention a GPU run takes: the composite path (faster on the H200) whenever its estimate fits the
// GPU, flash when only it fits, and MINILM_ATTENTION overrides; the CPU always runs the composite path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadPretrainConfig } from '../ts/config/pretrain-config.js';
import { chooseAttention } from '../ts/train/attention-path.js';
import { repoRoot } from './support/cli.js';

const GiB = 2 ** 30;
const reference = loadPretrainConfig({ configFile: path.join(repoRoot, 'configs/pretrain.yaml') });
const gpu = (memoryBytes: number | null, precision: 'bf16-mixed' | 'bf16-true' = 'bf16-mixed') => ({ device: 'cuda:0', precision, memoryBytes });

test('an H200 runs the reference config on the composite path; a 24 GB card on flash, and is told why', () => {
  assert.equal(chooseAttention(reference, gpu(140 * GiB), {}).path, 'composite');
  const card = chooseAttention(reference, gpu(24 * GiB), {});
  assert.equal(card.path, 'flash');
  assert.match(card.why, /^the composite path's 30\.\d\d GiB do not fit the GPU's 24\.00 GiB$/);
  assert.equal(chooseAttention(reference, gpu(null), {}).path, 'composite', 'memory unknown: the faster path');
});

test('MINILM_ATTENTION overrides the choice, and a wrong value is an error that names it', () => {
  assert.equal(chooseAttention(reference, gpu(140 * GiB), { MINILM_ATTENTION: 'flash' }).path, 'flash');
  assert.equal(chooseAttention(reference, gpu(24 * GiB), { MINILM_ATTENTION: 'composite' }).path, 'composite');
  assert.throws(() => chooseAttention(reference, gpu(140 * GiB), { MINILM_ATTENTION: 'flsh' }), /MINILM_ATTENTION=flsh: expected composite or flash/);
});

test('flash is never chosen where its kernels do not run: the CPU, other head sizes, bf16-true', () => {
  const cpu = { device: 'cpu', precision: '32-true' as const, memoryBytes: null };
  assert.equal(chooseAttention(reference, cpu, { MINILM_ATTENTION: 'flash' }).path, 'composite');
  const wide = { ...reference, model: { ...reference.model, head_size: 96 } };
  const choice = chooseAttention(wide, gpu(8 * GiB), {});
  assert.equal(choice.path, 'composite');
  assert.match(choice.why, /the flash kernels take head sizes 48, 64, 128/);
  assert.equal(chooseAttention(reference, gpu(24 * GiB, 'bf16-true'), { MINILM_ATTENTION: 'flash' }).path, 'composite');
});
