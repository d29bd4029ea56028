// Fixtures made once per test run and shared by the test files that need them (a prepared dataset, a
// tiny pretrained and a fine-tuned checkpoint). They live in the run's folder (files.ts), so a later run
// never reads an earlier run's fixtures, made by older code. A fixture is built aside and renamed into
// place: a file that finds it reads a whole one. Callers only read what they get.
import fs from 'node:fs';
import path from 'node:path';
import { runFolder } from './files.js';

/** The folder `build` fills, made by the first test file of this run that asks for `name`. */
export async function sharedFixture(name: string, build: (dir: string) => Promise<void>): Promise<string> {
  const dir = path.join(runFolder(), 'fixtures', name);
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
