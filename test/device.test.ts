// Where training runs: the CPU addon says why it cannot use a GPU, bf16 falls back to float32 on the CPU
// with a note, and MINILM_DEVICE=cuda fails with the reason instead of quietly using the CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseDevice } from '../ts/device.js';
import { cudaUnavailableReason } from '../ts/native.js';
import { runCli } from './support/cli.js';
import { tinyConfig, writeConfig } from './support/training.js';
import { tempDir } from './support/files.js';

const gpuHere = cudaUnavailableReason() === null;

test('without a usable GPU, training goes to the CPU in float32 and says why', { skip: gpuHere && 'a GPU is usable here' }, () => {
  const choice = chooseDevice({ devices: 'auto', precision: 'bf16-mixed' }, {});
  assert.equal(choice.device, 'cpu');
  assert.equal(choice.precision, '32-true');
  assert.match(choice.whyNotGpu!, /without CUDA|does not load|no NVIDIA driver|CUDA cannot start/);
  assert.match(choice.warnings[0], /bf16 needs the GPU/);
  assert.deepEqual(chooseDevice({ devices: 1, precision: '32-true' }, {}).warnings, [], 'no precision warning for 32-true');
  assert.throws(
    () => chooseDevice({ devices: 'auto', precision: '32-true' }, { MINILM_DEVICE: 'cuda' }),
    /the GPU was asked for \(MINILM_DEVICE=cuda, or device 'cuda'\), but it cannot be used: /,
  );
  assert.throws(() => chooseDevice({ devices: 'auto', precision: '32-true' }, { MINILM_DEVICE: 'tpu' }), /expected cpu or cuda/);
});

test('MINILM_DEVICE=cpu keeps a run on the CPU even where a GPU is usable', () => {
  const choice = chooseDevice({ devices: 1, precision: 'bf16-true' }, { MINILM_DEVICE: 'cpu' });
  assert.deepEqual([choice.device, choice.precision], ['cpu', '32-true']);
  assert.equal(choice.whyNotGpu, 'MINILM_DEVICE=cpu');
});

test('pretrain prints its device, and MINILM_DEVICE=cuda without a GPU stops with the reason before training', {
  skip: gpuHere && 'a GPU is usable here',
}, async () => {
  const config = writeConfig(tinyConfig(tempDir('device-data'), tempDir('device-out')));
  process.env.MINILM_DEVICE = 'cuda';
  try {
    const forced = await runCli(['pretrain', '--config', config]);
    assert.equal(forced.code, 2);
    // Which reason depends on the install: no CUDA build (CI), or a CUDA build on a machine without a driver.
    assert.match(
      forced.stderr,
      /minilm: the GPU was asked for \(MINILM_DEVICE=cuda, or device 'cuda'\), but it cannot be used: (this addon was built without CUDA \(npm run build:cuda builds one\)|no NVIDIA driver found)/,
    );
  } finally {
    delete process.env.MINILM_DEVICE;
  }
});

test("the library's device option overrides MINILM_DEVICE", { skip: gpuHere && 'a GPU is usable here' }, async () => {
  const { loadPretrainConfig, pretrain } = await import('../ts/index.js');
  const config = loadPretrainConfig({ tree: tinyConfig(tempDir('device-data'), tempDir('device-out')) });
  await assert.rejects(pretrain(config, { device: 'cuda' }), /the GPU was asked for .*but it cannot be used/);
});
