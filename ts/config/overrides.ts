// Command-line overrides in litgpt's (jsonargparse's) style: `--train.micro_batch_size 4`, `--out_dir=out/x`.
// They are applied to the file's tree before validation, so an override is checked exactly like the file.
// Values are read as YAML scalars, as jsonargparse reads them: 4 is a number, true a boolean, null null,
// [0.9, 0.95] a list, anything else a string.
import YAML from 'yaml';
import { MinilmError } from '../errors.js';
import { PRETRAIN_SCHEMA } from './pretrain-schema.js';

export interface Override {
  /** The flag as typed (`--data.data_path`), to name it in errors. */
  flag: string;
  /** The dotted key it sets, in the file's terms (`data.init_args.data_path`). */
  path: string[];
  value: unknown;
}

const EXAMPLE = 'overrides look like --train.micro_batch_size 4 or --out_dir=out/run2';

/** Parses `['--train.micro_batch_size', '4', '--out_dir=out/x']`. Throws InvalidArg naming the bad token. */
export function parseOverrides(argv: readonly string[]): Override[] {
  const overrides: Override[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (!token.startsWith('--') || token.length === 2) {
      throw new MinilmError(`unexpected argument '${token}': ${EXAMPLE}`, 'InvalidArg');
    }
    const equals = token.indexOf('=');
    const name = equals < 0 ? token.slice(2) : token.slice(2, equals);
    const flag = `--${name}`;
    let text: string;
    if (equals >= 0) {
      text = token.slice(equals + 1);
    } else {
      // A following flag is not a value (negative numbers are: `--seed -1`).
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new MinilmError(`${flag} needs a value: ${EXAMPLE}`, 'InvalidArg');
      text = next;
      i++;
    }
    const segments = name.split('.');
    if (!segments.every((s) => /^[A-Za-z_][A-Za-z0-9_-]*$/.test(s) && s !== '__proto__')) {
      throw new MinilmError(`${flag}: not a key path; ${EXAMPLE}`, 'InvalidArg');
    }
    overrides.push({ flag, path: toFilePath(segments.map((s) => s.replace(/-/g, '_'))), value: parseScalar(text) });
  }
  return overrides;
}

// jsonargparse lets `--data.data_path` stand for data.init_args.data_path (and `--optimizer.lr` for
// optimizer.init_args.lr) in class sections; the file always spells init_args out.
function toFilePath(segments: string[]): string[] {
  const section = PRETRAIN_SCHEMA.keys[segments[0]];
  const classSection = section?.kind === 'section' && section.classForm === true;
  if (classSection && segments.length > 1 && segments[1] !== 'class_path' && segments[1] !== 'init_args') {
    return [segments[0], 'init_args', ...segments.slice(1)];
  }
  return segments;
}

/** A command-line value as YAML reads it; text YAML cannot read (`[1,`, `#tag`) stays text. */
export function parseScalar(text: string): unknown {
  const document = YAML.parseDocument(text, { logLevel: 'silent' });
  if (document.errors.length > 0) return text;
  const value: unknown = document.toJS();
  // A comment-only value (`#fff`) reads as null; only an empty or null-spelt value should.
  if (value === null && !/^\s*(?:~|null|Null|NULL)?\s*$/.test(text)) return text;
  return value;
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Sets each override in `tree` (modified in place; later flags win). Returns which flag set each dotted
 * path, so that errors about those keys name the flag rather than the file.
 */
export function applyOverrides(tree: Record<string, unknown>, overrides: readonly Override[]): Map<string, string> {
  const origins = new Map<string, string>();
  for (const { flag, path, value } of overrides) {
    let node = tree;
    for (let depth = 0; depth < path.length - 1; depth++) {
      const key = path[depth];
      let child = (Object.hasOwn(node, key) ? node[key] : undefined) ?? {};
      // `optimizer: AdamW` in the file, then `--optimizer.lr 0.01`: the string is the section's class_path.
      if (depth === 0 && typeof child === 'string' && toFilePath([key, 'x']).length === 3) child = { class_path: child };
      if (!isMapping(child)) {
        const where = path.slice(0, depth + 1).join('.');
        throw new MinilmError(`${flag}: ${where} is ${JSON.stringify(child)}, not a section with keys, so it has no key ${path[depth + 1]}`, 'InvalidArg');
      }
      node[key] = child;
      node = child;
    }
    node[path[path.length - 1]] = value;
    origins.set(path.join('.'), flag);
  }
  return origins;
}
