// The learning rate of every step against litgpt's own code (test/golden/schedule.json, made once by
// scripts/reference/make_schedule_golden.py): pretraining for one process and for data-parallel ranks,
// with warmup steps or a warmup fraction, and fine-tuning's per-step schedule.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { planRun, type RunLengthSettings, stepLr } from '../ts/train/schedule.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const golden = JSON.parse(readFileSync(path.join(repoRoot, 'test/golden/schedule.json'), 'utf8')) as {
  pretrain: {
    world: number;
    micro: number;
    global_batch: number;
    max_tokens: number;
    seq_len: number;
    lr: number;
    min_lr: number;
    windows: number;
    warmup_steps?: number;
    warmup_fraction?: number;
    rates: number[];
  }[];
  finetune: { lr: number; warmup_steps: number; max_steps: number; rates: number[] }[];
};

function rates(settings: RunLengthSettings, windows: number, world: number): number[] {
  const { totalSteps, schedule } = planRun(settings, windows, world);
  return Array.from({ length: totalSteps }, (_, step) => stepLr(step, schedule));
}

function assertRates(what: string, got: number[], want: number[]): void {
  assert.equal(got.length, want.length, `${what}: steps`);
  for (const [step, rate] of got.entries()) {
    assert.ok(Math.abs(rate - want[step]) <= 1e-12, `${what}, step ${step}: ${rate} against litgpt's ${want[step]}`);
  }
}

test("pretraining's rates are litgpt's, on one process and on data-parallel ranks", () => {
  for (const c of golden.pretrain) {
    const settings: RunLengthSettings = {
      train: {
        micro_batch_size: c.micro,
        gradient_accumulation_steps: c.global_batch / c.micro,
        max_seq_length: c.seq_len,
        max_tokens: c.max_tokens,
        max_steps: null,
        min_lr: c.min_lr,
        lr_warmup_steps: c.warmup_steps ?? 0,
        lr_warmup_fraction: c.warmup_fraction ?? null,
      },
      optimizer: { lr: c.lr },
      sft: null,
    };
    assertRates(`${c.world} rank(s) of micro-batch ${c.micro}`, rates(settings, c.windows, c.world), c.rates);
  }
  // What the cases show: ranks follow the one process whose micro-batch is theirs times the world size.
  const [oneOf8, twoOf4, twoOf8] = golden.pretrain;
  assert.deepEqual(twoOf4.rates, oneOf8.rates);
  assert.notDeepEqual(twoOf8.rates, oneOf8.rates);
});

test("fine-tuning's rates are litgpt's: once per optimizer step, a warmup that may outlast the run", () => {
  for (const c of golden.finetune) {
    const settings: RunLengthSettings = {
      train: {
        micro_batch_size: 1,
        // The accumulation and the world size leave fine-tuning's rates alone.
        gradient_accumulation_steps: 4,
        max_seq_length: 64,
        max_tokens: Number.MAX_SAFE_INTEGER,
        max_steps: c.max_steps,
        min_lr: 0,
        lr_warmup_steps: c.warmup_steps,
        lr_warmup_fraction: null,
      },
      optimizer: { lr: c.lr },
      sft: { epochs: 100 },
    };
    for (const world of [1, 2]) assertRates(`warmup ${c.warmup_steps} of ${c.max_steps} steps, ${world} rank(s)`, rates(settings, 1000, world), c.rates);
  }
});
