//! Training windows from the three on-disk layouts users hold: minilm / litdata TokensLoader chunks,
//! the reference workflow's chunks (index.json without an item_loader), and llm.c shards.

use std::fs;
use std::path::Path;

use minilm_core::data::windows::{split_dirs, TokenWindows};

/// A litdata chunk file of int16 items, and its index.json (with or without an item_loader key).
fn write_litdata(dir: &Path, items: &[Vec<i16>], item_loader: Option<&str>) {
    fs::create_dir_all(dir).unwrap();
    let header = 4 + 4 * (items.len() + 1);
    let mut bytes = (items.len() as u32).to_le_bytes().to_vec();
    let mut offset = header;
    bytes.extend((offset as u32).to_le_bytes());
    for item in items {
        offset += 2 * item.len();
        bytes.extend((offset as u32).to_le_bytes());
    }
    for item in items {
        for t in item {
            bytes.extend(t.to_le_bytes());
        }
    }
    fs::write(dir.join("chunk-0-0.bin"), &bytes).unwrap();
    let tokens: usize = items.iter().map(Vec::len).sum();
    let loader = item_loader.map(|l| format!(r#", "item_loader": "{l}""#)).unwrap_or_default();
    fs::write(dir.join("index.json"), format!(
        r#"{{"chunks": [{{"chunk_bytes": {}, "chunk_size": {}, "dim": {tokens}, "filename": "chunk-0-0.bin"}}],
           "config": {{"chunk_bytes": null, "chunk_size": 16416588, "compression": null, "data_format": ["no_header_tensor:14"]{loader}}}}}"#,
        bytes.len(), items.len()
    )).unwrap();
}

fn read(windows: &TokenWindows, i: u64) -> Vec<u32> {
    let mut out = Vec::new();
    windows.read(i, &mut out).unwrap();
    out
}

#[test]
fn litdata_chunks_with_and_without_item_loader_give_aligned_windows() {
    for loader in [Some("TokensLoader"), None] {
        let dir = tempfile::tempdir().unwrap();
        // 11 tokens over three documents: two windows of 5, the tail token dropped (as TokensLoader does).
        write_litdata(dir.path(), &[vec![1, 2, 3], vec![4, 5, 6, 7], vec![8, 9, 10, 11]], loader);
        let windows = TokenWindows::open(dir.path(), 5).unwrap();
        assert_eq!(windows.len(), 2);
        assert_eq!(read(&windows, 0), [1, 2, 3, 4, 5]);
        assert_eq!(read(&windows, 1), [6, 7, 8, 9, 10]);
    }
}

#[test]
fn llmc_shards_are_read_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    for (name, first) in [("fineweb_train_000002.bin", 100u16), ("fineweb_train_000001.bin", 0)] {
        let mut bytes = vec![0u8; 1024];
        bytes[0..4].copy_from_slice(&20240520i32.to_le_bytes());
        bytes[4..8].copy_from_slice(&1i32.to_le_bytes());
        bytes[8..12].copy_from_slice(&12i32.to_le_bytes());
        for t in first..first + 12 {
            bytes.extend(t.to_le_bytes());
        }
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let windows = TokenWindows::open(dir.path(), 4).unwrap();
    assert_eq!(windows.len(), 6);
    assert_eq!(read(&windows, 0), [0, 1, 2, 3]);
    assert_eq!(read(&windows, 3), [100, 101, 102, 103]);
}

#[test]
fn wrong_files_get_messages_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("tokens.bin"), vec![7u8; 2048]).unwrap();
    let error = TokenWindows::open(dir.path(), 4).err().unwrap().to_string();
    assert!(error.contains("tokens.bin: is not an llm.c token shard"), "{error}");

    let short = tempfile::tempdir().unwrap();
    write_litdata(short.path(), &[vec![1, 2, 3]], Some("TokensLoader"));
    let error = TokenWindows::open(short.path(), 8).err().unwrap().to_string();
    assert!(error.contains("holds no window of 8 tokens"), "{error}");

    let error = split_dirs(&dir.path().join("missing"), None).err().unwrap().to_string();
    assert!(error.contains("does not exist or is not a folder"), "{error}");
}
