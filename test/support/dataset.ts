// An independent reader of litdata token shards (written from the format description, not from
// minilm's Rust code), and the reference ids from the npm `tokenizers` package (HF tokenizers' own
// Rust core behind its own binding).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from 'tokenizers';

interface IndexJson {
  chunks: Array<{ chunk_bytes: number; chunk_size: number; dim: number; filename: string }>;
  config: { data_format: string[]; item_loader: string; chunk_size: number };
}

/** Every document of one split folder, in order, as arrays of ids. */
export function readSplit(dir: string): number[][] {
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as IndexJson;
  const itemSize = { 'no_header_tensor:14': 2, 'no_header_tensor:16': 4 }[index.config.data_format[0]];
  if (!itemSize) throw new Error(`unexpected data_format ${index.config.data_format}`);
  const docs: number[][] = [];
  for (const chunk of index.chunks) {
    const bytes = readFileSync(path.join(dir, chunk.filename));
    if (bytes.length !== chunk.chunk_bytes) throw new Error(`${chunk.filename}: ${bytes.length} bytes, index says ${chunk.chunk_bytes}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = view.getUint32(0, true);
    if (n !== chunk.chunk_size) throw new Error(`${chunk.filename}: ${n} items, index says ${chunk.chunk_size}`);
    let tokens = 0;
    for (let i = 0; i < n; i++) {
      const start = view.getUint32(4 + 4 * i, true);
      const end = view.getUint32(8 + 4 * i, true);
      const ids: number[] = [];
      for (let o = start; o < end; o += itemSize) ids.push(itemSize === 2 ? view.getInt16(o, true) : view.getInt32(o, true));
      tokens += ids.length;
      docs.push(ids);
    }
    if (tokens !== chunk.dim) throw new Error(`${chunk.filename}: ${tokens} tokens, index says ${chunk.dim}`);
  }
  return docs;
}

/** Both splits of a prepared output folder. */
export function readDataset(outputDir: string): { train: number[][]; val: number[][] } {
  return { train: readSplit(path.join(outputDir, 'train')), val: readSplit(path.join(outputDir, 'val')) };
}

/** HF tokenizers' ids for each text, with litgpt's convention: BOS if add_bos_token, EOS appended. */
export async function referenceIds(tokenizerDir: string, texts: string[]): Promise<number[][]> {
  const tokenizer = Tokenizer.fromFile(path.join(tokenizerDir, 'tokenizer.json'));
  const config = JSON.parse(readFileSync(path.join(tokenizerDir, 'tokenizer_config.json'), 'utf8')) as {
    add_bos_token?: boolean;
    bos_token?: string;
    eos_token?: string;
  };
  const vocab = JSON.parse(readFileSync(path.join(tokenizerDir, 'tokenizer.json'), 'utf8')) as {
    added_tokens: Array<{ id: number; content: string }>;
  };
  const idOf = (token?: string) => vocab.added_tokens.find((t) => t.content === token)?.id;
  const bos = config.add_bos_token ? idOf(config.bos_token) : undefined;
  const eos = idOf(config.eos_token);
  const out: number[][] = [];
  for (const text of texts) {
    const ids = [...(await tokenizer.encode(text)).getIds()];
    if (bos !== undefined && ids[0] !== bos) ids.unshift(bos);
    if (eos !== undefined && ids[ids.length - 1] !== eos) ids.push(eos);
    out.push(ids);
  }
  return out;
}
