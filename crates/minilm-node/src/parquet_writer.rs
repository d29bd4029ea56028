use std::path::Path;

use minilm_core::data::parquet_writer;
use napi_derive::napi;

use crate::error::to_napi;

/// Writes a single string column as Parquet, a batch of texts at a time.
#[napi]
pub struct ParquetTextWriter {
    inner: parquet_writer::ParquetTextWriter,
}

#[napi]
impl ParquetTextWriter {
    /// `compression`: none, snappy, gzip, brotli, lz4 or zstd.
    #[napi(constructor)]
    pub fn new(path: String, column: String, compression: String, row_group_size: u32) -> napi::Result<Self> {
        let inner =
            parquet_writer::ParquetTextWriter::create(Path::new(&path), &column, &compression, row_group_size as usize).map_err(to_napi)?;
        Ok(ParquetTextWriter { inner })
    }

    /// Appends rows; null or undefined entries become null texts.
    #[napi]
    pub fn write(&mut self, texts: Vec<Option<String>>) -> napi::Result<()> {
        self.inner.write(&texts).map_err(to_napi)
    }

    #[napi]
    pub fn close(&mut self) -> napi::Result<()> {
        self.inner.close().map_err(to_napi)
    }
}
