//! Parquet, read one record batch at a time with only the text column decoded.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::ArrayRef;
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use super::{DocumentReader, RawBatch, Texts, BATCH_MAX_ROWS};
use crate::error::{Error, Result};

pub struct ParquetReader {
    path: PathBuf,
    batches: ParquetRecordBatchReader,
    total_rows: u64,
    next_row: u64,
}

impl ParquetReader {
    pub fn open(path: &Path, file: File, text_key: &str) -> Result<Self> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            Error::input(
                path,
                None,
                format!("cannot read it as Parquet ({e}); expected a complete Parquet file: is it truncated, or another format?"),
            )
        })?;
        let schema = builder.schema().clone();
        let field = schema.fields().iter().find(|f| f.name() == text_key).ok_or_else(|| {
            let columns: Vec<String> = schema.fields().iter().map(|f| format!("{} ({})", f.name(), f.data_type())).collect();
            Error::input(path, None, format!("no '{text_key}' column; the file has [{}]; choose one with text_key", columns.join(", ")))
        })?;
        if !is_text(field.data_type()) {
            return Err(Error::input(
                path,
                None,
                format!("column '{text_key}' holds {}; expected strings (Utf8, LargeUtf8 or Utf8View)", field.data_type()),
            ));
        }
        let mask = ProjectionMask::columns(builder.parquet_schema(), [text_key]);
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let batches = builder
            .with_projection(mask)
            .with_batch_size(BATCH_MAX_ROWS / 8)
            .build()
            .map_err(|e| Error::input(path, None, format!("cannot read it as Parquet: {e}")))?;
        Ok(ParquetReader { path: path.to_path_buf(), batches, total_rows, next_row: 0 })
    }
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => matches!(**values, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        _ => false,
    }
}

impl DocumentReader for ParquetReader {
    fn next_batch(&mut self) -> Result<Option<RawBatch>> {
        let first_row = self.next_row;
        let Some(batch) = self.batches.next() else { return Ok(None) };
        let batch = batch.map_err(|e| {
            Error::input(
                &self.path,
                Some(format!("near row {}", first_row + 1)),
                format!("cannot decode the data ({e}); expected a complete, uncorrupted Parquet file"),
            )
        })?;
        let texts =
            strings(batch.column(0)).map_err(|message| Error::input(&self.path, Some(format!("near row {}", first_row + 1)), message))?;
        self.next_row += texts.len() as u64;
        let file_fraction = self.next_row as f64 / self.total_rows.max(1) as f64;
        Ok(Some(RawBatch { first_row, texts: Texts::Decoded(texts), file_fraction }))
    }
}

fn strings(column: &ArrayRef) -> std::result::Result<Vec<Option<String>>, String> {
    let own = |s: Option<&str>| s.map(str::to_owned);
    Ok(match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().iter().map(own).collect(),
        DataType::LargeUtf8 => column.as_string::<i64>().iter().map(own).collect(),
        DataType::Utf8View => column.as_string_view().iter().map(own).collect(),
        DataType::Dictionary(_, _) => {
            let plain = arrow_cast::cast(column, &DataType::LargeUtf8).map_err(|e| e.to_string())?;
            return strings(&plain);
        }
        other => return Err(format!("found {other}; expected strings")),
    })
}
