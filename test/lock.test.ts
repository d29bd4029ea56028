// One run per output folder: a second pretrain or prepare on a folder a running run holds is refused
// with a message naming that run, and a crashed run's lock is taken over rather than left stuck.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOCK_FILE, lockFolder, processStat } from '../ts/lock.js';
import { cliPath, minimindTokenizer, runCli, startCli } from './support/cli.js';
import { tempDir, writeJsonl } from './support/files.js';
import { lossesByStep, poetryDataset, tinyConfig, writeConfig } from './support/training.js';

let data: string;

before(async () => {
  data = await poetryDataset(2_000);
});

test('a second pretrain on the out_dir of a running one is refused, naming the running process', async () => {
  const out = tempDir('lock-pretrain');
  const config = writeConfig(tinyConfig(data, out, { train: { max_tokens: 16 * 64 * 100_000, save_interval: 100_000, log_interval: 1 } }));
  const first = startCli(['pretrain', '--config', config]);
  // Wait for its first step: by then it holds the lock.
  await new Promise<void>((resolve) => {
    const check = (chunk: Buffer) => {
      if (/step \d+/.test(chunk.toString())) {
        first.child.stderr!.off('data', check);
        first.child.stdout!.off('data', check);
        resolve();
      }
    };
    first.child.stderr!.on('data', check);
    first.child.stdout!.on('data', check);
    first.done.then(() => resolve());
  });
  const second = await runCli(['pretrain', '--config', config]);
  first.child.kill('SIGINT');
  const ended = await first.done;
  assert.notEqual(second.code, 0);
  assert.match(second.stderr, new RegExp(`is in use by another run: \`minilm pretrain\` \\(pid ${first.child.pid},`));
  assert.equal(ended.code, 130, ended.stderr);
  assert.ok(!fs.existsSync(path.join(out, LOCK_FILE)), 'the first run released its lock when it stopped');
});

test('prepare refuses an output_dir that a live process holds, and takes over a crashed one', async () => {
  const input = tempDir('lock-input');
  writeJsonl(path.join(input, 'a.jsonl'), ['床前明月光，疑是地上霜。', '舉頭望明月，低頭思故鄉。']);
  const out = tempDir('lock-prepare');
  const holder = spawn('sleep', ['30']);
  try {
    const lock = { pid: holder.pid, host: os.hostname(), command: 'minilm prepare', started: '2026-12-01T00:00:00.000Z' };
    fs.writeFileSync(path.join(out, LOCK_FILE), JSON.stringify(lock));
    const args = ['prepare', '--input_dir', input, '--output_dir', out, '--tokenizer_path', minimindTokenizer];
    const refused = await runCli(args);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(`${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another run: \`minilm prepare\` \\(pid ${holder.pid},`),
    );
    assert.ok(!fs.existsSync(path.join(out, 'train')), 'nothing was written');

    // The same lock after its process is gone: a crash. The next run takes it over and finishes.
    const gone = spawnSync('true').pid;
    fs.writeFileSync(path.join(out, LOCK_FILE), JSON.stringify({ ...lock, pid: gone }));
    const resumed = await runCli(args);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok(fs.existsSync(path.join(out, 'train/index.json')));
    assert.ok(!fs.existsSync(path.join(out, LOCK_FILE)));
  } finally {
    holder.kill();
  }
});

test('the library lock: one holder at a time, released for the next', () => {
  const dir = tempDir('lock-library');
  const lock = lockFolder(dir, 'minilm pretrain');
  assert.throws(() => lockFolder(dir, 'minilm pretrain'), new RegExp(`pid ${process.pid},`));
  lock.release();
  lockFolder(dir, 'minilm prepare').release();
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('a lock whose process is a zombie (killed, not yet reaped) is taken over at once', async (t) => {
  if (process.platform !== 'linux') return t.skip('zombies are read from /proc');
  // sh starts a child that exits at once, then becomes `sleep`, which never reaps it: the child stays a
  // zombie, as a run killed with kill -9 does until its parent (or init) reaps it.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = await new Promise<number>((resolve) => parent.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
    const state = () => processStat(pid)?.state;
    for (let i = 0; i < 200 && state() !== 'Z'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(state(), 'Z', 'the child became a zombie');
    const dir = tempDir('lock-zombie');
    const owner = { pid, host: os.hostname(), command: 'minilm pretrain', started: new Date().toISOString() };
    fs.writeFileSync(path.join(dir, LOCK_FILE), `${JSON.stringify(owner)}\n`);
    const lock = lockFolder(dir, 'minilm pretrain');
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
    lock.release();
  } finally {
    parent.kill();
  }
});

test('a lock whose pid now belongs to another program (another start time) is taken over; the same start time is refused', async (t) => {
  if (process.platform !== 'linux') return t.skip('start times are read from /proc');
  const other = spawn('sleep', ['30']);
  try {
    const stat = processStat(other.pid!);
    assert.ok(stat, 'the sleep is in /proc');
    const dir = tempDir('lock-reused-pid');
    const owner = { pid: other.pid, host: os.hostname(), command: 'minilm pretrain', started: new Date().toISOString() };
    fs.writeFileSync(path.join(dir, LOCK_FILE), `${JSON.stringify({ ...owner, startTicks: stat.startTicks })}\n`);
    assert.throws(() => lockFolder(dir, 'minilm pretrain'), new RegExp(`pid ${other.pid},`));
    // The run that wrote the lock started earlier: the pid was reused by this sleep.
    fs.writeFileSync(path.join(dir, LOCK_FILE), `${JSON.stringify({ ...owner, startTicks: stat.startTicks - 1 })}\n`);
    const lock = lockFolder(dir, 'minilm pretrain');
    const taken = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'));
    assert.equal(taken.pid, process.pid);
    assert.equal(taken.startTicks, processStat(process.pid)!.startTicks, 'the new lock records its own start time');
    lock.release();
  } finally {
    other.kill();
  }
});

test('a pretrain killed with kill -9 under a parent that never reaps it resumes at once from its checkpoint', async (t) => {
  if (process.platform !== 'linux') return t.skip('zombies are read from /proc');
  const out = tempDir('lock-kill9');
  const config = writeConfig(tinyConfig(data, out, { train: { max_tokens: 16 * 64 * 10_000, save_interval: 3 } }));
  const log = path.join(tempDir('lock-kill9-log'), 'pretrain.log');
  // As in a container without an init: the run's parent (sh, then `sleep`) never reaps it.
  const parent = spawn('sh', ['-c', `"$0" "$1" pretrain --config "$2" >"$3" 2>&1 & echo $!; exec sleep 120`, process.execPath, cliPath, config, log], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let pid = 0;
  try {
    pid = await new Promise<number>((resolve) => parent.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
    // A step folder appears whole (written aside, then renamed).
    const saved = path.join(out, 'step-00000003/state.json');
    for (let i = 0; i < 1200 && !fs.existsSync(saved); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(fs.existsSync(saved), `the run saved a checkpoint:\n${fs.readFileSync(log, 'utf8')}`);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 200 && processStat(pid)?.state !== 'Z'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(processStat(pid)?.state, 'Z', 'the killed run is a zombie');
    assert.ok(fs.existsSync(path.join(out, LOCK_FILE)), 'its lock is left behind');

    const resumed = await runCli(['pretrain', '--config', config, '--resume', 'auto', '--train.max_tokens', String(16 * 64 * 40)]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout + resumed.stderr, /resumed from .*step-\d{8} at step \d+ of 40/);
    assert.ok(lossesByStep(out).has(40), 'the resumed run trained on to its last step');
  } finally {
    if (pid > 0) process.kill(pid, 'SIGKILL');
    parent.kill();
  }
});
