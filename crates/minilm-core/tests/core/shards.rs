//! The shard format against litdata itself, and the writer's crash recovery.

use minilm_core::data::shards::{read_chunk, read_index, ChunkWriter, JournalMark};
use minilm_core::data::token_dtype::TokenDtype;

/// Produced once with litdata 0.2.76 (torch 2.15, Python 3.11):
///
/// ```python
/// import torch
/// from litdata import optimize, TokensLoader
/// docs = [[5,6,7,2],[8,9,2],[10,11,12,13,14,2],[3,2]]
/// def fn(i):
///     yield torch.tensor(docs[i], dtype=torch.int16)
/// optimize(fn=fn, inputs=list(range(4)), output_dir="out", chunk_size=8,
///          item_loader=TokensLoader(), num_workers=1)
/// # then print open("out/index.json").read() and each chunk's bytes as hex
/// ```
const DOCS: [&[u32]; 4] = [&[5, 6, 7, 2], &[8, 9, 2], &[10, 11, 12, 13, 14, 2], &[3, 2]];
const LITDATA_CHUNK_0: &str = "0200000010000000180000001e0000000500060007000200080009000200";
const LITDATA_CHUNK_1: &str = "02000000100000001c000000200000000a000b000c000d000e00020003000200";
/// litdata's index.json without its "updated_at" timestamp.
const LITDATA_INDEX: &str = concat!(
    r#"{"chunks": [{"chunk_bytes": 30, "chunk_size": 2, "dim": 7, "filename": "chunk-0-0.bin"}, "#,
    r#"{"chunk_bytes": 32, "chunk_size": 2, "dim": 8, "filename": "chunk-0-1.bin"}], "#,
    r#""config": {"chunk_bytes": null, "chunk_size": 8, "compression": null, "compression_batch_size": null, "#,
    r#""compression_level": null, "data_format": ["no_header_tensor:14"], "#,
    r#""data_spec": "[1, {\"type\": null, \"context\": null, \"children_spec\": []}]", "encryption": null, "#,
    r#""ipc_compression": null, "item_loader": "TokensLoader", "types": "tensor"}}"#
);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn writes_what_litdata_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ChunkWriter::open(dir.path(), TokenDtype::Int16, 8, vec![], &JournalMark::default()).unwrap();
    for doc in DOCS {
        writer.append(doc).unwrap();
    }
    writer.finish().unwrap();
    assert_eq!(hex(&std::fs::read(dir.path().join("chunk-0-0.bin")).unwrap()), LITDATA_CHUNK_0);
    assert_eq!(hex(&std::fs::read(dir.path().join("chunk-0-1.bin")).unwrap()), LITDATA_CHUNK_1);
    assert_eq!(std::fs::read_to_string(dir.path().join("index.json")).unwrap(), LITDATA_INDEX);
}

#[test]
fn reads_back_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ChunkWriter::open(dir.path(), TokenDtype::Int32, 8, vec![], &JournalMark::default()).unwrap();
    for doc in DOCS {
        writer.append(doc).unwrap();
    }
    writer.append(&[40_000, 2]).unwrap();
    writer.finish().unwrap();
    let index = read_index(dir.path()).unwrap();
    assert_eq!(index.dtype, TokenDtype::Int32);
    let mut docs = Vec::new();
    for info in &index.chunks {
        let chunk = read_chunk(dir.path(), info).unwrap();
        for w in chunk.item_offsets.windows(2) {
            docs.push(index.dtype.decode(&chunk.tokens[w[0] as usize..w[1] as usize]));
        }
    }
    let mut expected: Vec<Vec<u32>> = DOCS.iter().map(|d| d.to_vec()).collect();
    expected.push(vec![40_000, 2]);
    assert_eq!(docs, expected);
}

#[test]
fn a_document_longer_than_a_chunk_gets_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ChunkWriter::open(dir.path(), TokenDtype::Int16, 4, vec![], &JournalMark::default()).unwrap();
    writer.append(&[1, 2]).unwrap();
    writer.append(&[3, 4, 5, 6, 7, 8]).unwrap();
    writer.append(&[9]).unwrap();
    let chunks = writer.finish().unwrap();
    let dims: Vec<u64> = chunks.iter().map(|c| c.dim).collect();
    assert_eq!(dims, [2, 6, 1]);
}

/// A writer dropped after a commit (as if killed), with more appended after the commit and a chunk
/// half written, resumes from the mark and ends with the same bytes as an uninterrupted run.
#[test]
fn resumes_from_a_commit_with_identical_output() {
    let reference = tempfile::tempdir().unwrap();
    let mut writer = ChunkWriter::open(reference.path(), TokenDtype::Int16, 8, vec![], &JournalMark::default()).unwrap();
    for doc in DOCS {
        writer.append(doc).unwrap();
    }
    writer.finish().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut writer = ChunkWriter::open(dir.path(), TokenDtype::Int16, 8, vec![], &JournalMark::default()).unwrap();
    writer.append(DOCS[0]).unwrap();
    let mark = writer.commit().unwrap();
    writer.after_commit().unwrap();
    let closed = writer.closed_chunks().to_vec();
    // Work after the commit that the crash loses: more documents, a closed chunk, a stray temp file.
    writer.append(DOCS[1]).unwrap();
    writer.append(DOCS[2]).unwrap();
    writer.commit().unwrap();
    std::fs::write(dir.path().join(".chunk-0-1.bin.tmp"), b"partial").unwrap();
    drop(writer);

    let mut writer = ChunkWriter::open(dir.path(), TokenDtype::Int16, 8, closed, &mark).unwrap();
    for doc in &DOCS[1..] {
        writer.append(doc).unwrap();
    }
    writer.finish().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["chunk-0-0.bin", "chunk-0-1.bin", "index.json"]);
    for name in &names {
        assert_eq!(std::fs::read(dir.path().join(name)).unwrap(), std::fs::read(reference.path().join(name)).unwrap(), "{name}");
    }
}
