//! Parquet, read one record batch at a time with only the text column decoded.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{make_array, Array, ArrayRef};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Fields};
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
        let path_in_schema = text_column_path(builder.schema().fields(), text_key).map_err(|message| Error::input(path, None, message))?;
        let leaf =
            builder.parquet_schema().columns().iter().position(|column| column.path().parts() == path_in_schema.as_slice()).ok_or_else(
                || Error::input(path, None, format!("column '{text_key}' is not a plain Parquet column (inside a list or map?)")),
            )?;
        let mask = ProjectionMask::leaves(builder.parquet_schema(), [leaf]);
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let batches = builder
            .with_projection(mask)
            .with_batch_size(BATCH_MAX_ROWS / 8)
            .build()
            .map_err(|e| Error::input(path, None, format!("cannot read it as Parquet: {e}")))?;
        Ok(ParquetReader { path: path.to_path_buf(), batches, total_rows, next_row: 0 })
    }
}

/// The path of the text column in the schema: `text_key` names a top-level column, or, when there is
/// none of that name, a field inside struct columns with dots (`meta.content`), as HF datasets nest them.
fn text_column_path(fields: &Fields, text_key: &str) -> std::result::Result<Vec<String>, String> {
    let describe = |fields: &Fields| fields.iter().map(|f| format!("{} ({})", f.name(), f.data_type())).collect::<Vec<_>>().join(", ");
    let (field, path) = match fields.iter().find(|f| f.name() == text_key) {
        Some(field) => (field.clone(), vec![text_key.to_owned()]),
        None => {
            let mut level = fields.clone();
            let mut path = Vec::new();
            let mut found = None;
            let parts: Vec<&str> = text_key.split('.').collect();
            for (depth, part) in parts.iter().enumerate() {
                let Some(field) = level.iter().find(|f| f.name() == part).cloned() else {
                    let within = if path.is_empty() { String::from("the file") } else { format!("'{}'", path.join(".")) };
                    return Err(format!("no '{text_key}' column; {within} has [{}]; choose one with text_key", describe(&level)));
                };
                path.push(part.to_string());
                if depth + 1 < parts.len() {
                    let DataType::Struct(inner) = field.data_type() else {
                        return Err(format!("no '{text_key}' column: '{}' holds {}, not a struct", path.join("."), field.data_type()));
                    };
                    level = inner.clone();
                }
                found = Some(field);
            }
            (found.expect("split yields at least one part"), path)
        }
    };
    if !is_text(field.data_type()) {
        return Err(format!("column '{text_key}' holds {}; expected strings (Utf8, LargeUtf8 or Utf8View)", field.data_type()));
    }
    Ok(path)
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
        let texts = strings(&innermost(batch.column(0)))
            .map_err(|message| Error::input(&self.path, Some(format!("near row {}", first_row + 1)), message))?;
        self.next_row += texts.len() as u64;
        let file_fraction = self.next_row as f64 / self.total_rows.max(1) as f64;
        Ok(Some(RawBatch { first_row, texts: Texts::Decoded(texts), file_fraction }))
    }
}

/// The one leaf under the projected column: itself for a top-level text column, or the text field inside
/// its structs, null wherever a struct above it is null.
fn innermost(column: &ArrayRef) -> ArrayRef {
    let DataType::Struct(_) = column.data_type() else { return column.clone() };
    let parent = column.as_struct();
    let child = innermost(parent.column(0));
    let nulls = NullBuffer::union(parent.nulls(), child.logical_nulls().as_ref());
    make_array(child.to_data().into_builder().nulls(nulls).build().expect("same length, nulls only added"))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int32Array, RecordBatch, StringArray, StructArray};
    use arrow_schema::{Field, Schema};
    use parquet::arrow::ArrowWriter;

    use super::*;

    /// Rows: meta = {content: "床前明月光", n: 1}, meta = null, meta = {content: null, n: 3}, meta = {content: "疑是地上霜", n: 4};
    /// beside them a top-level column whose name holds a dot.
    fn nested_file(dir: &Path) -> PathBuf {
        let content = Arc::new(StringArray::from(vec![Some("床前明月光"), Some("ignored: the struct is null"), None, Some("疑是地上霜")]));
        let n = Arc::new(Int32Array::from(vec![1, 2, 3, 4]));
        let fields = Fields::from(vec![Field::new("content", DataType::Utf8, true), Field::new("n", DataType::Int32, false)]);
        let meta = StructArray::new(fields.clone(), vec![content, n], Some(NullBuffer::from(vec![true, false, true, true])));
        let dotted = Arc::new(StringArray::from(vec!["a", "b", "c", "d"]));
        let schema = Arc::new(Schema::new(vec![
            Field::new("meta", DataType::Struct(fields), true),
            Field::new("meta.content", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(meta), dotted]).unwrap();
        let path = dir.join("nested.parquet");
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        path
    }

    fn texts(path: &Path, key: &str) -> Result<Vec<Option<String>>> {
        let mut reader = ParquetReader::open(path, File::open(path).unwrap(), key)?;
        let mut out = Vec::new();
        while let Some(batch) = reader.next_batch()? {
            let Texts::Decoded(texts) = batch.texts else { panic!("parquet texts come decoded") };
            out.extend(texts);
        }
        Ok(out)
    }

    #[test]
    fn a_dotted_text_key_reads_a_field_inside_a_struct_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = nested_file(dir.path());
        let got = texts(&path, "meta.content").unwrap();
        // A top-level column named "meta.content" wins over the struct field: an exact name comes first.
        assert_eq!(got, ["a", "b", "c", "d"].map(|s| Some(s.to_string())));
        std::fs::remove_file(&path).unwrap();

        // Without the dotted column, the struct field is read, null where the struct or the field is null.
        let content = Arc::new(StringArray::from(vec![Some("床前明月光"), Some("x"), None, Some("疑是地上霜")]));
        let fields = Fields::from(vec![Field::new("content", DataType::Utf8, true)]);
        let meta = StructArray::new(fields.clone(), vec![content], Some(NullBuffer::from(vec![true, false, true, true])));
        let schema = Arc::new(Schema::new(vec![Field::new("meta", DataType::Struct(fields), true)]));
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), schema.clone(), None).unwrap();
        writer.write(&RecordBatch::try_new(schema, vec![Arc::new(meta)]).unwrap()).unwrap();
        writer.close().unwrap();
        let got = texts(&path, "meta.content").unwrap();
        assert_eq!(got, vec![Some("床前明月光".to_string()), None, None, Some("疑是地上霜".to_string())]);
    }

    #[test]
    fn a_missing_or_non_text_nested_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = nested_file(dir.path());
        let error = texts(&path, "meta.body").err().unwrap().to_string();
        assert!(error.contains("no 'meta.body' column; 'meta' has [content (Utf8), n (Int32)]"), "{error}");
        let error = texts(&path, "meta.n").err().unwrap().to_string();
        assert!(error.contains("column 'meta.n' holds Int32; expected strings"), "{error}");
        let error = texts(&path, "meta.content.x").err().unwrap().to_string();
        assert!(error.contains("'meta.content' holds Utf8, not a struct"), "{error}");
        let error = texts(&path, "body").err().unwrap().to_string();
        assert!(error.contains("no 'body' column; the file has [meta (Struct("), "{error}");
    }
}
