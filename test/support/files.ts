// Writing test corpora in each input format.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

export function tempDir(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `minilm-${name}-`));
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
