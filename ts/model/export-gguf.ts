// `minilm export --format gguf`: a checkpoint as one GGUF file for llama.cpp, Ollama and LM Studio
// (crates/minilm-core/src/gguf writes it), with an Ollama Modelfile beside it (ts/model/modelfile.ts).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { writeAtomically } from '../atomic-file.js';
import path from 'node:path';
import { MinilmError } from '../errors.js';
import { ChatTemplate } from '../chat/template.js';
import { Model } from './model.js';
import { ollamaModelfile } from './modelfile.js';

export const GGUF_DTYPES = ['f32', 'f16', 'bf16', 'q8_0'] as const;
export type GgufDtype = (typeof GGUF_DTYPES)[number];

export interface GgufExportOptions {
  /** The 2-D weights' dtype (norms stay f32); default f32. */
  dtype?: GgufDtype;
  /** Where the tokenizer files are when the checkpoint has none (default: the checkpoint). */
  tokenizerDir?: string;
  /** Replace an existing model.gguf and Modelfile in the output folder. */
  force?: boolean;
}

export interface GgufExportSummary {
  outputDir: string;
  files: string[];
  /** Tensors written as f16 under q8_0 (their rows are not a multiple of 32). */
  f16Fallbacks: string[];
  /** Why the Modelfile has no TEMPLATE, when it has none. */
  modelfileNote: string | null;
}

export const GGUF_FILE = 'model.gguf';
export const MODELFILE = 'Modelfile';

export async function exportGguf(checkpointDir: string, outputDir: string, options: GgufExportOptions = {}): Promise<GgufExportSummary> {
  const dtype = options.dtype ?? 'f32';
  if (!GGUF_DTYPES.includes(dtype)) throw new MinilmError(`dtype ${dtype}: expected one of ${GGUF_DTYPES.join(', ')}`, 'InvalidArg');
  const out = path.resolve(outputDir);
  const target = path.join(out, GGUF_FILE);
  for (const file of [target, path.join(out, MODELFILE)]) {
    if (existsSync(file) && !options.force) throw new MinilmError(`${file}: exists; pass --force (force: true) to replace it`, 'InvalidArg');
  }
  const model = await Model.load(checkpointDir, { tokenizerDir: options.tokenizerDir });
  const config = tokenizerConfig(model.tokenizerDir);
  const chatTemplate = typeof config.chat_template === 'string' ? config.chat_template : null;
  const eosToken = tokenName(config.eos_token);

  mkdirSync(out, { recursive: true });
  // Written under a temporary name and renamed: a failed export leaves no half-written model.gguf.
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  let summary: { tensors: number; f16Fallbacks: string[] };
  try {
    summary = model.exportGguf(partial, path.join(model.tokenizerDir, 'tokenizer.json'), {
      dtype,
      name: model.config.name,
      bosToken: tokenName(config.bos_token),
      eosToken,
      paddingToken: tokenName(config.pad_token),
      unknownToken: tokenName(config.unk_token),
      addBos: config.add_bos_token === true,
      chatTemplate: chatTemplate ?? undefined,
    });
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
  renameSync(partial, target);

  const modelfile = ollamaModelfile(
    GGUF_FILE,
    chatTemplate === null ? null : ChatTemplate.fromDir(model.tokenizerDir),
    eosToken === undefined ? [] : [eosToken],
  );
  writeAtomically(path.join(out, MODELFILE), modelfile.text);
  return { outputDir: out, files: [GGUF_FILE, MODELFILE], f16Fallbacks: summary.f16Fallbacks, modelfileNote: modelfile.note };
}

interface TokenizerConfig {
  add_bos_token?: boolean;
  chat_template?: unknown;
  bos_token?: unknown;
  eos_token?: unknown;
  pad_token?: unknown;
  unk_token?: unknown;
}

function tokenizerConfig(dir: string): TokenizerConfig {
  const file = path.join(dir, 'tokenizer_config.json');
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TokenizerConfig;
  } catch (error) {
    throw new MinilmError(`${file}: is not JSON (${(error as Error).message})`, 'InvalidArg');
  }
}

/** A special token as tokenizer_config.json writes it: a string, or an object with its content. */
function tokenName(token: unknown): string | undefined {
  if (typeof token === 'string') return token;
  if (token !== null && typeof token === 'object' && typeof (token as { content?: unknown }).content === 'string')
    return (token as { content: string }).content;
  return undefined;
}
