//! Writes a column of texts as Parquet: for sample corpora (the quickstart) and for tests that need
//! files of several codecs and row-group sizes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, IoContext, Result};

pub struct ParquetTextWriter {
    path: PathBuf,
    schema: Arc<Schema>,
    writer: Option<ArrowWriter<File>>,
}

pub fn compression_by_name(name: &str) -> Result<Compression> {
    Ok(match name {
        "none" | "uncompressed" => Compression::UNCOMPRESSED,
        "snappy" => Compression::SNAPPY,
        "gzip" => Compression::GZIP(GzipLevel::default()),
        "brotli" => Compression::BROTLI(BrotliLevel::default()),
        "lz4" => Compression::LZ4_RAW,
        "zstd" => Compression::ZSTD(ZstdLevel::default()),
        other => return Err(Error::usage(format!("compression must be none, snappy, gzip, brotli, lz4 or zstd, not '{other}'"))),
    })
}

impl ParquetTextWriter {
    /// A file with one nullable string column `column`; rows are grouped `row_group_size` at a time.
    pub fn create(path: &Path, column: &str, compression: &str, row_group_size: usize) -> Result<Self> {
        let schema = Arc::new(Schema::new(vec![Field::new(column, DataType::Utf8, true)]));
        let properties = WriterProperties::builder()
            .set_compression(compression_by_name(compression)?)
            .set_max_row_group_row_count(Some(row_group_size.max(1)))
            .build();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        let file = File::create(path).at(path)?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
            .map_err(|e| Error::input(path, None, format!("cannot start a Parquet file: {e}")))?;
        Ok(ParquetTextWriter { path: path.to_path_buf(), schema, writer: Some(writer) })
    }

    pub fn write(&mut self, texts: &[Option<String>]) -> Result<()> {
        let writer = self.writer.as_mut().ok_or_else(|| Error::usage("this Parquet writer is already closed"))?;
        let column: ArrayRef = Arc::new(StringArray::from_iter(texts.iter().map(|t| t.as_deref())));
        let batch = RecordBatch::try_new(self.schema.clone(), vec![column]).map_err(|e| Error::input(&self.path, None, e.to_string()))?;
        writer.write(&batch).map_err(|e| Error::input(&self.path, None, format!("cannot write: {e}")))
    }

    pub fn close(&mut self) -> Result<()> {
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(|e| Error::input(&self.path, None, format!("cannot finish: {e}")))?;
        }
        Ok(())
    }
}
