// `exportCheckpoint(dir, { format, outputDir, ... })`: the library's one entry for `minilm export`, to a
// Hugging Face folder (export-hf.ts) or a GGUF file for llama.cpp (export-gguf.ts).
import { MinilmError } from '../errors.js';
import { type ExportSummary, exportHf } from './export-hf.js';
import { exportGguf, type GgufDtype, type GgufExportSummary } from './export-gguf.js';

export const EXPORT_FORMATS = ['hf', 'gguf'] as const;

export interface ExportOptions {
  format: (typeof EXPORT_FORMATS)[number];
  /** hf: a new folder; gguf: the folder for model.gguf and its Modelfile. */
  outputDir: string;
  /** gguf only: the 2-D weights' dtype (default f32). */
  dtype?: GgufDtype;
  /** gguf only: replace an existing model.gguf and Modelfile. */
  force?: boolean;
  /** Where the tokenizer files are when the checkpoint has none. */
  tokenizerDir?: string;
}

export function exportCheckpoint(checkpointDir: string, options: ExportOptions & { format: 'gguf' }): Promise<GgufExportSummary>;
export function exportCheckpoint(checkpointDir: string, options: ExportOptions & { format: 'hf' }): Promise<ExportSummary>;
export function exportCheckpoint(checkpointDir: string, options: ExportOptions): Promise<ExportSummary | GgufExportSummary>;
export async function exportCheckpoint(checkpointDir: string, options: ExportOptions): Promise<ExportSummary | GgufExportSummary> {
  const { format, outputDir, tokenizerDir } = options;
  if (format === 'hf') {
    if (options.dtype !== undefined) throw new MinilmError('dtype applies to --format gguf only (hf writes float32)', 'InvalidArg');
    return exportHf(checkpointDir, outputDir, { tokenizerDir });
  }
  if (format === 'gguf') return exportGguf(checkpointDir, outputDir, { dtype: options.dtype, tokenizerDir, force: options.force });
  throw new MinilmError(`format ${format as string}: expected ${EXPORT_FORMATS.join(' or ')}`, 'InvalidArg');
}
