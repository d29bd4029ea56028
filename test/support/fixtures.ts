// Fixtures made once per test run and shared by the test files that need them (a prepared dataset, a
// tiny pretrained and a fine-tuned checkpoint): each file runs in its own process under `node --test`, so
// the cache is a folder named after the runner process (its pid and start time, so a later run never
// reads an earlier run's fixtures, made by older code). A fixture is built aside and renamed into place:
// a file that finds it reads a whole one. Callers only read what they get.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processStat } from '../../ts/lock.js';

const PREFIX = 'minilm-test-fixtures-';

/** The folder `build` fills, made by the first test file of this run that asks for `name`. */
export async function sharedFixture(name: string, build: (dir: string) => Promise<void>): Promise<string> {
  const dir = path.join(runFolder(), name);
  if (fs.existsSync(dir)) return dir;
  const draft = `${dir}.${process.pid}.partial`;
  fs.rmSync(draft, { recursive: true, force: true });
  fs.mkdirSync(draft, { recursive: true });
  await build(draft);
  try {
    fs.renameSync(draft, dir);
  } catch (error) {
    // Another file of this run finished the same fixture first: use theirs.
    if (!fs.existsSync(dir)) throw error;
    fs.rmSync(draft, { recursive: true, force: true });
  }
  return dir;
}

let folder: string | null = null;

function runFolder(): string {
  if (folder !== null) return folder;
  const runner = process.ppid;
  folder = path.join(os.tmpdir(), `${PREFIX}${runner}-${processStat(runner)?.startTicks ?? 0}`);
  if (!fs.existsSync(folder)) {
    fs.mkdirSync(folder, { recursive: true });
    removeEndedRuns();
  }
  return folder;
}

/** The fixture folders of earlier runs whose runner has ended: nothing reads them again. */
function removeEndedRuns(): void {
  for (const entry of fs.readdirSync(os.tmpdir())) {
    const match = new RegExp(`^${PREFIX}(\\d+)-(\\d+)$`).exec(entry);
    if (match === null) continue;
    const stat = processStat(Number(match[1]));
    if (stat === null || String(stat.startTicks) !== match[2]) fs.rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
  }
}
