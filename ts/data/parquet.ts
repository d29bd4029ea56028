// Writing texts as Parquet (sample corpora, tests).
import { native } from '../native.js';
import { callNative } from '../job.js';

export interface ParquetWriteOptions {
  /** Column name. Default "text". */
  column?: string;
  /** none, snappy, gzip, brotli, lz4 or zstd. Default zstd. */
  compression?: string;
  /** Rows per row group. Default 10,000. */
  rowGroupSize?: number;
}

/** Writes `texts` (null for a null text) as one string column, in batches from an iterable. */
export function writeParquetTexts(file: string, batches: Iterable<Array<string | null>>, options: ParquetWriteOptions = {}): void {
  callNative(() => {
    const writer = new (native().ParquetTextWriter)(file, options.column ?? 'text', options.compression ?? 'zstd', options.rowGroupSize ?? 10_000);
    for (const batch of batches) writer.write(batch);
    writer.close();
  });
}
