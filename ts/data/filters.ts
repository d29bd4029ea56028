// The filters file of `minilm prepare --filters FILE.yaml`: which quality rules run, with which thresholds.
// A rule is off unless the file names it; named with no settings (`repetition:`, `repetition: {}` or
// `repetition: true`) it runs with the core's defaults (`screenDefaults()`), and any setting given
// replaces that one default. Every problem is reported as FILE:LINE with what was expected.
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair } from 'yaml';
import type { FilterRules, NgramLimit, ScreenDefaults } from '../../native/index.js';
import { MinilmError } from '../errors.js';
import { native } from '../native.js';
import { suggestKey } from '../config/suggest.js';

export type { FilterRules, ScreenDefaults } from '../../native/index.js';

/** Each rule's thresholds when a filters file names it without giving them, and MinHash's parameters. */
export function screenDefaults(): ScreenDefaults {
  return native().screenDefaults();
}

type Kind = 'count' | 'fraction' | 'scripts' | 'file' | 'ngrams';
/** The file's rule names (snake_case, as the report names them) and each one's settings. */
const RULE_KEYS: Record<string, Record<string, Kind>> = {
  length: { min_chars: 'count', max_chars: 'count' },
  script: { scripts: 'scripts', min_fraction: 'fraction' },
  symbol_lines: { line_symbol_fraction: 'fraction', max_fraction: 'fraction' },
  blocklist: { file: 'file', max_matches: 'count' },
  repetition: {
    dup_line_fraction: 'fraction',
    dup_paragraph_fraction: 'fraction',
    dup_line_char_fraction: 'fraction',
    dup_paragraph_char_fraction: 'fraction',
    top_ngram_char_fraction: 'ngrams',
    dup_ngram_char_fraction: 'ngrams',
  },
};

/** Reads and checks a filters file; paths inside it (the blocklist) are relative to its folder. */
export function loadFilters(file: string): FilterRules {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new MinilmError(`${file}: cannot read the filters file: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, 'InvalidArg');
  }
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, logLevel: 'silent' });
  const at = (node: Node | Pair | null | undefined): string => {
    const offset = (isPair(node) ? (node.key as Node | null)?.range?.[0] : node?.range?.[0]) ?? 0;
    return `${file}:${lines.linePos(offset).line}`;
  };
  const fail = (node: Node | Pair | null | undefined, message: string): never => {
    throw new MinilmError(`${at(node)}: ${message}`, 'InvalidArg');
  };
  if (document.errors[0]) {
    const error = document.errors[0];
    throw new MinilmError(`${file}:${error.linePos?.[0].line ?? 1}: YAML syntax error: ${error.message.split('\n')[0]}`, 'InvalidArg');
  }
  const root = document.contents;
  if (!isMap(root)) {
    return fail(root, `expected a mapping of rules (${Object.keys(RULE_KEYS).join(', ')}), each with its settings or {} for the defaults`);
  }
  const defaults = screenDefaults();
  const rules: FilterRules = {};
  for (const pair of root.items) {
    const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
    if (!(name in RULE_KEYS)) {
      const near = suggestKey(name, Object.keys(RULE_KEYS));
      fail(pair, `unknown rule '${name}'${near ? `; did you mean ${near}?` : ''} (the rules: ${Object.keys(RULE_KEYS).join(', ')})`);
    }
    const rule = name;
    const value = pair.value as Node | null;
    if (isScalar(value) && value.value === false) continue;
    const settings = value === null || (isScalar(value) && (value.value === null || value.value === true)) ? null : value;
    if (settings !== null && !isMap(settings)) {
      fail(value, `${rule}: expected its settings as a mapping (or {} for the defaults), not ${JSON.stringify(String(value))}`);
    }
    const given: Record<string, unknown> = {};
    for (const item of isMap(settings) ? settings.items : []) {
      const key = String(isScalar(item.key) ? item.key.value : item.key);
      const kind = RULE_KEYS[rule][key];
      if (kind === undefined) {
        const near = suggestKey(key, Object.keys(RULE_KEYS[rule]));
        fail(item, `unknown setting ${rule}.${key}${near ? `; did you mean ${rule}.${near}?` : ''} (${rule} takes ${Object.keys(RULE_KEYS[rule]).join(', ')})`);
      }
      given[key] = checkSetting(`${rule}.${key}`, kind, item.value as Node | null, (message) => fail(item, message), path.dirname(file));
    }
    if (rule === 'blocklist' && given.file === undefined) {
      fail(pair, 'blocklist: needs file: (a file of words or characters, one per line)');
    }
    const key = camel(rule) as keyof FilterRules;
    const base = rule === 'blocklist' ? { maxMatches: defaults.blocklistMaxMatches } : defaults[key as Exclude<keyof FilterRules, 'blocklist'>];
    (rules as Record<string, unknown>)[key] = { ...base, ...camelKeys(given) };
  }
  const length = rules.length;
  if (length && length.minChars > length.maxChars) {
    fail(root, `length: min_chars (${length.minChars}) is above max_chars (${length.maxChars})`);
  }
  return rules;
}

function checkSetting(name: string, kind: Kind, node: Node | null, fail: (message: string) => never, folder: string): unknown {
  const value: unknown = isScalar(node) ? node.value : undefined;
  switch (kind) {
    case 'count':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) fail(`${name} must be a whole number of at least 0, not ${show(node)}`);
      return value;
    case 'fraction':
      if (typeof value !== 'number' || value < 0 || value > 1) fail(`${name} must be a number from 0 to 1, not ${show(node)}`);
      return value;
    case 'file': {
      if (typeof value !== 'string' || value === '') fail(`${name} must be a file path, not ${show(node)}`);
      const file = path.resolve(folder, value as string);
      if (!fs.existsSync(file)) fail(`${name}: no such file: ${file}`);
      return file;
    }
    case 'scripts': {
      const items = isSeq(node) ? node.items : [node];
      const names = items.map((item) => (isScalar(item) ? item.value : undefined));
      if (names.length === 0 || names.some((n) => typeof n !== 'string' || n === '')) {
        fail(`${name} must be a script name or a list of them (Han, Latin, Cyrillic, ...), not ${show(node)}`);
      }
      return names;
    }
    case 'ngrams': {
      if (!isMap(node)) fail(`${name} must map n to a fraction ({2: 0.2, 3: 0.18}), not ${show(node)}`);
      const limits: NgramLimit[] = [];
      for (const item of (node as unknown as { items: Pair[] }).items) {
        const n = Number(isScalar(item.key) ? item.key.value : Number.NaN);
        const fraction = isScalar(item.value) ? item.value.value : undefined;
        if (!Number.isInteger(n) || n < 1) fail(`${name}: n must be a whole number of at least 1, not ${show(item.key as Node)}`);
        if (typeof fraction !== 'number' || fraction < 0 || fraction > 1) fail(`${name}.${n} must be a number from 0 to 1, not ${show(item.value as Node)}`);
        limits.push({ n, fraction: fraction as number });
      }
      return limits;
    }
  }
}

function show(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  return JSON.stringify(isScalar(node) ? node.value : String(node));
}

/** The file's snake_case names (as litgpt spells settings) in the addon's camelCase. */
function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function camelKeys(object: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [camel(k), v]));
}
