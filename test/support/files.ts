// The test run's folders, and writing test corpora in each input format.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { isRunning, processStat } from '../../ts/lock.js';

/** A fresh folder for one test, inside this run's folder. */
export function tempDir(name: string): string {
  return mkdtempSync(path.join(runFolder(), `${name}-`));
}

const RUN_PREFIX = 'minilm-test-run-';
let folder: string | null = null;

/**
 * Everything a test run writes lives in one folder, named after the runner process (each test file runs
 * in its own process under `node --test`; the pid and its start time name one run). The next run removes
 * the folders of runs that have ended, so a failed run's files stay to be looked at until then, and runs
 * do not fill the disk (they left gigabytes in /tmp before).
 */
export function runFolder(): string {
  if (folder !== null) return folder;
  const runner = process.ppid;
  folder = path.join(tmpdir(), `${RUN_PREFIX}${runner}-${processStat(runner)?.startTicks ?? 0}`);
  if (!existsSync(folder)) {
    mkdirSync(folder, { recursive: true });
    removeEndedRuns();
  }
  return folder;
}

function removeEndedRuns(): void {
  for (const entry of readdirSync(tmpdir())) {
    const match = new RegExp(`^${RUN_PREFIX}(\\d+)-(\\d+)$`).exec(entry);
    if (match === null) continue;
    if (!isRunning(Number(match[1]), Number(match[2]))) rmSync(path.join(tmpdir(), entry), { recursive: true, force: true });
  }
}

export function writeJsonl(file: string, texts: Array<string | null>, key = 'text'): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${texts.map((t, i) => JSON.stringify({ id: i, [key]: t })).join('\n')}\n`);
}

/** RFC 4180 CSV: every field quoted, so texts may hold commas, quotes and newlines. */
export function writeCsv(file: string, texts: string[], key = 'text'): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const rows = texts.map((t, i) => `${i},${quote(t)},${quote('meta, "x"')}`);
  writeFileSync(file, `${[`id,${key},meta`, ...rows].join('\r\n')}\r\n`);
}
