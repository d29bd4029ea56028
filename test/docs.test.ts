// Docs that cannot rot: every `minilm ...` command line in the README and docs/ is parsed by the CLI's own
// parser (an unknown command, flag or config key fails, naming the file and line), every relative link
// resolves to a file and a heading, and `--help` lists every key a litgpt-style override can set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { buildCli } from '../ts/cli/commands.js';
import { overrideTokens } from '../ts/cli/pretrain.js';
import { OWN_FLAGS as SFT_OWN_FLAGS } from '../ts/cli/sft.js';
import { applyOverrides, parseOverrides } from '../ts/config/overrides.js';
import { knownKeys, normalizeTree, PRETRAIN_SCHEMA, type Problem, type Section } from '../ts/config/pretrain-schema.js';
import { SFT_SCHEMA } from '../ts/config/sft-schema.js';
import { DPO_SCHEMA } from '../ts/config/dpo-schema.js';
import { writeParquetTexts } from '../ts/index.js';
import { cliPath, minimindTokenizer, repoRoot } from './support/cli.js';
import { poems } from './support/corpus.js';
import { tempDir } from './support/files.js';

const docsDir = path.join(repoRoot, 'docs');
const docPages = fs
  .readdirSync(docsDir)
  .filter((name) => name.endsWith('.md'))
  .map((name) => `docs/${name}`);
/** Where users read commands: the README and every docs page. */
const commandFiles = ['README.md', ...docPages];
/** Where links are followed from: those, and the other Markdown files a reader reaches from them. */
const linkFiles = [...commandFiles, 'DEVELOPERS.md', 'BENCHMARKS.md', 'configs/README.md'];

const read = (file: string) => fs.readFileSync(path.join(repoRoot, file), 'utf8');

// --- Reading command lines out of fenced code blocks -------------------------------------------------

interface FencedBlock {
  /** The language named after the opening fence (`sh`, `ts`, ...), or ''. */
  language: string;
  /** The block's lines, with the 1-based line number of each. */
  lines: Array<{ line: number; text: string }>;
}

function fencedBlocks(markdown: string): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  let current: FencedBlock | null = null;
  markdown.split('\n').forEach((text, i) => {
    const fence = /^\s*```(\S*)/.exec(text);
    if (fence !== null) {
      if (current === null) current = { language: fence[1], lines: [] };
      else {
        blocks.push(current);
        current = null;
      }
    } else current?.lines.push({ line: i + 1, text });
  });
  return blocks;
}

const OPERATORS = ['&&', '||', '|', ';', '&'];

/** A shell line as words and operators (`&&`, `|`, ...): quotes and backslashes as sh reads them; `#` starts a comment. */
function shellWords(line: string): string[] {
  const out: string[] = [];
  let word: string | null = null;
  const end = () => {
    if (word !== null) out.push(word);
    word = null;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (/\s/.test(c)) end();
    else if (c === '#' && word === null) break;
    else if (c === "'" || c === '"') {
      const close = line.indexOf(c, i + 1);
      const quoted = close < 0 ? line.slice(i + 1) : line.slice(i + 1, close);
      word = (word ?? '') + (c === '"' ? quoted.replace(/\\(["\\$`])/g, '$1') : quoted);
      i = close < 0 ? line.length : close;
    } else if (c === '\\') word = (word ?? '') + (line[++i] ?? '');
    else if ('&|;<>'.includes(c)) {
      end();
      const two = line.slice(i, i + 2);
      const op = OPERATORS.includes(two) || two === '>>' ? two : c;
      out.push(op);
      i += op.length - 1;
    } else word = (word ?? '') + c;
  }
  end();
  return out;
}

/** The arguments after `minilm` if a simple command runs minilm (`npx minilm`, `npm start --`), else null. */
function minilmArgs(words: string[]): string[] | null {
  let rest = words;
  while (rest.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(rest[0])) rest = rest.slice(1); // FOO=1 minilm ...
  if (rest[0] === 'npm' && rest[1] === 'start') return ['quickstart', ...rest.slice(rest.indexOf('--') < 0 ? rest.length : rest.indexOf('--') + 1)];
  if (rest[0] === 'npx') {
    rest = rest.slice(1);
    while (rest.length > 0 && rest[0].startsWith('-')) rest = rest.slice(1); // --no-install, -y
  }
  return rest[0] === 'minilm' ? rest.slice(1) : null;
}

/** The words of each simple command in a line: split at operators, redirections and their targets dropped. */
function simpleCommands(words: string[]): string[][] {
  const commands: string[][] = [[]];
  for (let i = 0; i < words.length; i++) {
    if (OPERATORS.includes(words[i])) commands.push([]);
    else if (['>', '>>', '<'].includes(words[i])) i++;
    else commands[commands.length - 1].push(words[i]);
  }
  return commands;
}

interface CommandLine {
  file: string;
  line: number;
  text: string;
  args: string[];
}

/** Every minilm command in a Markdown file's fenced blocks; `\` continuations are joined. Output lines (`minilm: ...`, `next: npx minilm ...`) do not start a command. */
function commandLines(file: string, markdown: string): CommandLine[] {
  const found: CommandLine[] = [];
  for (const { lines: block } of fencedBlocks(markdown)) {
    for (let i = 0; i < block.length; i++) {
      const { line } = block[i];
      let text = block[i].text;
      while (/\\\s*$/.test(text) && i + 1 < block.length) text = `${text.replace(/\\\s*$/, '')} ${block[++i].text.trim()}`;
      for (const words of simpleCommands(shellWords(text))) {
        const args = minilmArgs(words);
        if (args !== null) found.push({ file, line, text: text.trim(), args });
      }
    }
  }
  return found;
}

// --- Parsing them with the CLI's own parser, running nothing -------------------------------------------

/**
 * Thrown by a middleware that yargs runs after validation, so that no command's handler runs. A global
 * middleware added with applyBeforeValidation false runs after strict validation and before the handler
 * (yargs 18, lib/command.js handleValidationAndGetResult: runValidation, applyMiddleware(..., false), handler).
 */
class Parsed extends Error {
  constructor(readonly problems: string[]) {
    super('parsed');
  }
}

/** The override keys a schema does not know, each as the run's own error words (values are not checked: docs use placeholders). */
function unknownOverrideKeys(tokens: string[], schema: Section): string[] {
  const tree: Record<string, unknown> = {};
  applyOverrides(tree, parseOverrides(tokens));
  const problems: Problem[] = [];
  normalizeTree(tree, problems, new Set(), schema);
  const known = new Set(knownKeys(schema));
  return problems.filter((p) => !known.has(p.path)).map((p) => p.message);
}

/** Why the CLI would refuse `minilm ARGS` (an unknown command, flag or override key, a missing flag), or null. */
async function rejection(args: string[]): Promise<string | null> {
  const cli = buildCli(args)
    .exitProcess(false)
    .middleware((argv) => {
      const command = String(argv._[0]);
      if (command === 'pretrain') throw new Parsed(unknownOverrideKeys(overrideTokens(args), PRETRAIN_SCHEMA));
      if (command === 'sft') throw new Parsed(unknownOverrideKeys(overrideTokens(args, 'sft', SFT_OWN_FLAGS), SFT_SCHEMA));
      throw new Parsed([]);
    }, false);
  try {
    // The callback keeps --help's text from being printed; such a line has parsed when it resolves.
    await cli.parseAsync(args, {}, () => {});
    return null;
  } catch (error) {
    if (error instanceof Parsed) return error.problems.length > 0 ? error.problems.join('; ') : null;
    return error instanceof Error ? error.message : String(error);
  }
}

test('the command-line reader joins continuations, drops comments, splits chains and skips output lines', () => {
  const markdown = [
    'text',
    '```sh',
    'npx minilm prepare --input_dir "a b" \\',
    '  --output_dir out   # a comment --not_a_flag',
    'MINILM_DEVICE=cpu minilm generate CKPT --prompt "床前 明月" && npx --no-install minilm report out | head',
    'npm start -- --chat; npm test',
    '```',
    '```',
    'minilm: unknown argument',
    'next: npx minilm generate out/quickstart/final',
    '```',
  ].join('\n');
  assert.deepEqual(
    commandLines('x.md', markdown).map(({ line, args }) => ({ line, args })),
    [
      { line: 3, args: ['prepare', '--input_dir', 'a b', '--output_dir', 'out'] },
      { line: 5, args: ['generate', 'CKPT', '--prompt', '床前 明月'] },
      { line: 5, args: ['report', 'out'] },
      { line: 6, args: ['quickstart', '--chat'] },
    ],
  );
});

test('the parser check rejects an unknown option or config key and accepts a good line, running nothing', async () => {
  const good = ['prepare', '--input_dir', 'a', '--output_dir', 'b', '--tokenizer_path', 'c'];
  assert.equal(await rejection(good), null);
  assert.match((await rejection([...good, '--no_such_option'])) ?? '', /Unknown argument: no_such_option/);
  assert.notEqual(await rejection(['prepare', '--no_such_option']), null);
  assert.match((await rejection(['no_such_command'])) ?? '', /Unknown argument: no_such_command/);
  assert.equal(await rejection(['pretrain', '--config', 'CONFIG', '--train.micro_batch_size', '4', '--resume', 'auto', '--data.data_path', 'x']), null);
  assert.match(
    (await rejection(['pretrain', '--config', 'CONFIG', '--train.micro_batch_sise', '4'])) ?? '',
    /unknown key train.micro_batch_sise; did you mean train.micro_batch_size/,
  );
  assert.match(
    (await rejection(['sft', '--config', 'CONFIG', '--format', 'openai', '--train.max_tokens', '9', '--train.foo', '1'])) ?? '',
    /unknown key train.foo/,
  );
  assert.equal(await rejection(['pretrain', '--help']), null);
});

test('every minilm command line in the README and docs/ parses with the CLI, options and config keys included', async () => {
  const lines = commandFiles.flatMap((file) => commandLines(file, read(file)));
  assert.ok(lines.length >= 30, `found ${lines.length} command lines`);
  const failures: string[] = [];
  for (const { file, line, text, args } of lines) {
    const why = await rejection(args);
    if (why !== null) failures.push(`${file}:${line}: ${text}\n    ${why}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${lines.length} documented command lines are refused`);
});

// --- Links ---------------------------------------------------------------------------------------------

/** The text with fenced blocks blanked (line breaks kept). */
function outsideFences(markdown: string): string {
  let fence = false;
  const lines = markdown.split('\n').map((line) => {
    if (/^\s*```/.test(line)) {
      fence = !fence;
      return '';
    }
    return fence ? '' : line;
  });
  return lines.join('\n');
}

/** The text where links can be: fenced blocks and inline code blanked, line breaks kept. */
function proseOnly(markdown: string): string {
  return outsideFences(markdown).replace(/`[^`]*`/g, (code) => code.replace(/[^\n]/g, 'x'));
}

/** GitHub's anchors for a file's headings: text lowercased, punctuation but `-` and `_` dropped, spaces to `-`, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, text] of outsideFences(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const plain = text.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const slug = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
    seen.set(slug, count + 1);
  }
  return anchors;
}

test('GitHub anchors follow its slug rules', () => {
  const anchors = headingAnchors("# `minilm pretrain`\n## The GPU (CUDA): built, not yet run\n## litgpt's own checkpoints\n### data\n### data\n");
  assert.deepEqual([...anchors], ['minilm-pretrain', 'the-gpu-cuda-built-not-yet-run', 'litgpts-own-checkpoints', 'data', 'data-1']);
});

test('every relative link in the README, docs/, DEVELOPERS.md and BENCHMARKS.md reaches a file and, with #anchor, a heading', () => {
  const failures: string[] = [];
  let links = 0;
  for (const file of linkFiles) {
    const prose = proseOnly(read(file));
    for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      links++;
      const line = prose.slice(0, match.index).split('\n').length;
      const [relative, anchor] = target.split('#');
      const resolved = relative === '' ? path.join(repoRoot, file) : path.resolve(path.dirname(path.join(repoRoot, file)), decodeURIComponent(relative));
      if (!fs.existsSync(resolved)) failures.push(`${file}:${line}: ${target}: no such file`);
      else if (anchor !== undefined && resolved.endsWith('.md') && !headingAnchors(fs.readFileSync(resolved, 'utf8')).has(anchor)) {
        failures.push(`${file}:${line}: ${target}: no heading #${anchor} in ${path.relative(repoRoot, resolved)}`);
      }
    }
  }
  assert.ok(links >= 30, `found ${links} relative links`);
  assert.deepEqual(failures, []);
});

// --- Help ----------------------------------------------------------------------------------------------

/** The override keys a --help text lists as `--section.{key, key}`, expanded to dotted paths. */
function keysInHelp(help: string): string[] {
  const flat = help.replace(/\s+/g, ' ');
  return [...flat.matchAll(/--([\w.]*)\{([^}]*)\}/g)].flatMap(([, prefix, keys]) => keys.split(',').map((key) => prefix + key.trim()));
}

for (const [command, schema] of [
  ['pretrain', PRETRAIN_SCHEMA],
  ['sft', SFT_SCHEMA],
  ['dpo', DPO_SCHEMA],
] as const) {
  test(`minilm ${command} --help lists every key of its config that an override can set`, () => {
    const help = spawnSync(process.execPath, [cliPath, command, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    const leaves = knownKeys(schema).filter((key) => !knownKeys(schema).some((other) => other.startsWith(`${key}.`)));
    assert.deepEqual(keysInHelp(help.stdout).sort(), leaves.sort());
  });
}

test('npx --no-install minilm --help runs the built command from the repository root', () => {
  const help = spawnSync('npx', ['--no-install', 'minilm', '--help'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  assert.equal(help.status, 0, `${help.stdout}${help.stderr}`);
  for (const command of ['prepare', 'tokenizer', 'inspect', 'pretrain', 'sft', 'dpo', 'generate', 'eval', 'chat', 'serve', 'export', 'report', 'quickstart']) {
    assert.match(help.stdout, new RegExp(`^\\s+minilm ${command}\\b`, 'm'), `--help lists minilm ${command}`);
  }
});

// --- The README's library snippet runs as a reader would paste it ------------------------------------

test("the README's library snippet runs as written, in a folder laid out as after `npm start`", () => {
  const snippets = fencedBlocks(read('README.md')).filter((b) => b.language === 'ts');
  assert.equal(snippets.length, 1, 'the README has one TypeScript block: the library snippet');
  // A reader's folder after `npm start`: the sample corpus (here a small one) and its tokenizer, the
  // quickstart config, and `minilm` installed (linked to this checkout).
  const work = tempDir('readme-snippet');
  fs.mkdirSync(path.join(work, 'data/sample/raw'), { recursive: true });
  writeParquetTexts(path.join(work, 'data/sample/raw/poems.parquet'), [[...poems(3000)]]);
  fs.cpSync(minimindTokenizer, path.join(work, 'data/sample/tokenizer'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'configs'), path.join(work, 'configs'), { recursive: true });
  fs.mkdirSync(path.join(work, 'node_modules'));
  fs.symlinkSync(repoRoot, path.join(work, 'node_modules/minilm'), 'dir');
  // Plain JavaScript in TypeScript's clothes: node runs it as an ES module, so the snippet keeps to it.
  fs.writeFileSync(path.join(work, 'snippet.mjs'), `${snippets[0].lines.map((l) => l.text).join('\n')}\n`);
  const run = spawnSync(process.execPath, ['snippet.mjs'], { cwd: work, encoding: 'utf8', timeout: 300_000 });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.ok(fs.existsSync(path.join(work, 'out/ex/run/final')), 'the run wrote its final checkpoint');
  assert.match(run.stdout, /^20 \d+\.\d+$/m, 'the validation loss at step 20 was logged');
  // 20 steps make a model that writes Chinese characters, not yet always whole UTF-8 sequences.
  assert.match(run.stdout.slice(run.stdout.indexOf('\n20 ')), /\p{Script=Han}/u, 'the model generated Chinese text');
});
