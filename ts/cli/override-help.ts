// The epilog of `minilm pretrain --help` and `minilm sft --help`: every key a litgpt-style override can
// set, one line per section, made from the config's schema so that help can never lag behind it.
import type { Section } from '../config/pretrain-schema.js';

const WIDTH = 80; // yargs wraps help at 80 columns; lines made to fit keep their indentation

/** `--train.{save_interval, log_interval, ...}` per section that has keys of its own (`--{...}` for the top level). */
export function overrideKeyLines(schema: Section, prefix = ''): string[] {
  const entries = Object.entries(schema.keys);
  const leaves = entries.filter(([, node]) => node.kind === 'leaf').map(([key]) => key);
  const own = leaves.length > 0 ? [`--${prefix}{${leaves.join(', ')}}`] : [];
  const nested = entries.flatMap(([key, node]) => (node.kind === 'section' ? overrideKeyLines(node, `${prefix}${key}.`) : []));
  return [...own, ...nested];
}

/** A line cut after its commas to fit WIDTH, the rest indented under it. */
function wrapAtCommas(line: string, indent: string): string {
  const out: string[] = [];
  let current = indent;
  for (const piece of line.split(/(?<=, )/)) {
    if (current.length + piece.trimEnd().length > WIDTH && current.trim() !== '') {
      out.push(current.trimEnd());
      current = `${indent}    `;
    }
    current += piece;
  }
  out.push(current.trimEnd());
  return out.join('\n');
}

/** The whole epilog: how overrides are written, where the keys are explained, then the keys. */
export function overrideHelp(schema: Section, reference: string): string {
  return [
    `Overrides: any key of the config file, in litgpt's dotted form (--train.micro_batch_size 4 or --out_dir=out/x; --data.X and --optimizer.X are short for their init_args.X; ${reference} explains each key):`,
    ...overrideKeyLines(schema).map((line) => wrapAtCommas(line, '  ')),
  ].join('\n');
}
