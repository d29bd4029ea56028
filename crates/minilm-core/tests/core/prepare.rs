//! `prepare` end to end on real text (Tang poems and the Brown corpus, from the npm dev dependencies):
//! the bytes written do not depend on the worker count, a run cancelled after some committed files
//! resumes to exactly the bytes of an uninterrupted run, and a rerun under other settings is refused,
//! naming what differs. test/prepare-*.test.ts check the same through the CLI, more slowly.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use minilm_core::data::parquet_writer::ParquetTextWriter;
use minilm_core::data::prepare::{prepare, PrepareOptions, Progress, Summary};
use minilm_core::data::shard_merge::merge;
use minilm_core::data::sharding::Shard;
use minilm_core::data::shards::{read_chunk, read_index};
use minilm_core::Error;

/// Each file takes longer to tokenize than the interval between progress reports (0.1 s), so a run can be
/// cancelled at a report that shows some files done and more to come, even on a faster machine.
const FILES: usize = 10;
const POEMS_PER_FILE: usize = 1200;
const PARAGRAPHS_PER_FILE: usize = 100;
/// Small enough that every file spans several chunks, so chunks close between commits.
const CHUNK_SIZE: u64 = 8_000;

use support::corpus::{brown_paragraphs, poems};
use support::prepare_runs::{prepare_options, run};

/// FILES Parquet files of poems and English paragraphs (with a null and an empty text in each), written
/// in row groups smaller than a reader batch, so each file reaches the workers as several batches.
fn input_dir() -> tempfile::TempDir {
    static CORPUS: OnceLock<(Vec<String>, Vec<String>)> = OnceLock::new();
    let (zh, en) = CORPUS.get_or_init(|| (poems(FILES * POEMS_PER_FILE), brown_paragraphs(FILES * PARAGRAPHS_PER_FILE)));
    let dir = tempfile::tempdir().unwrap();
    for i in 0..FILES {
        let mut texts: Vec<Option<String>> = zh[i * POEMS_PER_FILE..(i + 1) * POEMS_PER_FILE].iter().cloned().map(Some).collect();
        texts.splice(100..100, en[i * PARAGRAPHS_PER_FILE..(i + 1) * PARAGRAPHS_PER_FILE].iter().cloned().map(Some));
        texts.insert(7, None);
        texts.insert(300, Some(String::new()));
        let mut writer = ParquetTextWriter::create(&dir.path().join(format!("part-{i}.parquet")), "text", "zstd", 250).unwrap();
        writer.write(&texts).unwrap();
        writer.close().unwrap();
    }
    dir
}

fn options(input: &Path, output: &Path, num_workers: usize) -> PrepareOptions {
    PrepareOptions { num_workers, chunk_size: CHUNK_SIZE, val_fraction: 0.05, ..prepare_options(input, output) }
}

/// Runs prepare until a progress report shows a file committed beyond `after` (and not the last one),
/// then cancels it. Returns how many files were committed when it stopped.
fn run_cancelled_after(options: &PrepareOptions, after: usize) -> usize {
    let cancel = AtomicBool::new(false);
    let mut committed = None;
    let mut on_progress = |p: &Progress| {
        if committed.is_none() && p.files_done > after && p.files_done < p.files_total {
            committed = Some(p.files_done);
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let result = prepare(options, &mut on_progress, &cancel);
    let committed = committed.unwrap_or_else(|| {
        panic!("no progress report showed more than {after} finished files before the end (the corpus is too small to stop mid-run on this machine): {:?}", result.as_ref().map(|s| s.files))
    });
    // The writer stops before its next commit once cancelled: what the report showed is what is on disk.
    assert!(matches!(result, Err(Error::Cancelled)), "a cancelled run ends with Error::Cancelled, not {:?}", result.map(|s| s.files));
    committed
}

/// Every file a prepared dataset holds (train/, val/ and tokenizer/, dot files included), path -> bytes.
/// minilm writes no timestamps, so nothing needs leaving out.
fn dataset_files(output: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for folder in ["train", "val", "tokenizer"] {
        for entry in std::fs::read_dir(output.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            let name = format!("{folder}/{}", path.file_name().unwrap().to_string_lossy());
            files.insert(name, std::fs::read(&path).unwrap());
        }
    }
    files
}

fn assert_same_dataset(output: &Path, expected: &Path) {
    let (got, want) = (dataset_files(output), dataset_files(expected));
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "the same files");
    for (name, bytes) in &got {
        assert!(bytes == &want[name], "{name} differs");
    }
}

/// What a summary says about the dataset itself (not this run's timing or worker count).
fn assert_same_totals(got: &Summary, want: &Summary) {
    assert_eq!((got.files, &got.file_type, &got.dtype), (want.files, &want.file_type, &want.dtype));
    for (g, w) in [(&got.train, &want.train), (&got.val, &want.val)] {
        assert_eq!((g.documents, g.tokens, g.chunks), (w.documents, w.tokens, w.chunks));
    }
    assert_eq!((got.skipped_null, got.skipped_empty), (want.skipped_null, want.skipped_empty));
}

#[test]
fn the_output_does_not_depend_on_the_worker_count() {
    let input = input_dir();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = run(&options(input.path(), one.path(), 1));
    let b = run(&options(input.path(), two.path(), 2));
    assert_eq!((a.num_workers, b.num_workers), (1, 2));
    assert_same_dataset(one.path(), two.path());
    assert_same_totals(&a, &b);
    // The case is worth testing: many chunks in both splits, every file skipped its null and empty text.
    assert!(a.train.chunks >= 2 * FILES as u64 && a.val.chunks >= 1, "train {} chunks, val {}", a.train.chunks, a.val.chunks);
    assert!(a.val.documents > 0 && a.val.documents < a.train.documents / 10);
    assert_eq!((a.skipped_null, a.skipped_empty), (FILES as u64, FILES as u64));
    assert!(one.path().join("train/index.json").exists() && one.path().join("val/index.json").exists());
}

#[test]
fn a_run_cancelled_after_a_commit_resumes_to_the_bytes_of_an_uninterrupted_run() {
    let input = input_dir();
    let (reference, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let want = run(&options(input.path(), reference.path(), 2));
    assert_eq!((want.files_resumed, want.already_complete), (0, false));

    // Stopped twice (the second time by the resumed run itself, on another worker count), then finished.
    let first = run_cancelled_after(&options(input.path(), out.path(), 1), 0);
    assert!(!out.path().join("train/index.json").exists(), "no index.json before the dataset is complete");
    let second = run_cancelled_after(&options(input.path(), out.path(), 2), first);
    assert!(second > first);
    let resumed = run(&options(input.path(), out.path(), 2));
    assert_eq!(resumed.files_resumed, second, "it reports that it resumed after the files committed");
    assert!(!resumed.already_complete);
    assert_same_dataset(out.path(), reference.path());
    assert_same_totals(&resumed, &want);
    // This run's own counts cover only the files it did.
    assert!(resumed.tokens > 0 && resumed.tokens < want.tokens, "{} of {}", resumed.tokens, want.tokens);

    // Once complete, a rerun does nothing and changes nothing.
    let again = run(&options(input.path(), out.path(), 1));
    assert!(again.already_complete);
    assert_eq!(again.tokens, 0);
    assert_same_totals(&again, &want);
    assert_same_dataset(out.path(), reference.path());
}

#[test]
fn a_rerun_with_other_settings_is_refused_naming_what_differs() {
    let input = input_dir();
    let out = tempfile::tempdir().unwrap();
    // Part-done, then complete: both refuse other settings and are left as they were.
    let done = run_cancelled_after(&options(input.path(), out.path(), 2), 0);
    for complete in [false, true] {
        let state = || std::fs::read(out.path().join(".minilm-prepare.json")).unwrap();
        let (before, state_before) = (dataset_files(out.path()), state());
        let mut other = options(input.path(), out.path(), 2);
        other.seed = 7;
        other.chunk_size = CHUNK_SIZE + 1;
        let refused = prepare(&other, &mut |_| {}, &AtomicBool::new(false)).unwrap_err();
        assert!(matches!(refused, Error::Usage(_)), "{refused:?}");
        let message = refused.to_string();
        assert!(
            message.contains("other settings (differs in: ") && message.contains("seed") && message.contains("chunk_size"),
            "{message}"
        );
        assert!(!message.contains("val_fraction") && !message.contains("text_key"), "names only what differs: {message}");
        assert!(dataset_files(out.path()) == before && state() == state_before, "a refused run changes nothing");
        if !complete {
            // The worker count is not a setting: a rerun on another count resumes.
            let finished = run(&options(input.path(), out.path(), 1));
            assert_eq!(finished.files_resumed, done);
        }
    }
}

/// A split's documents (token bytes), in order, read through its index.json.
fn documents(split: &Path) -> Vec<Vec<u8>> {
    let index = read_index(split).unwrap();
    let mut out = Vec::new();
    for info in &index.chunks {
        let chunk = read_chunk(split, info).unwrap();
        out.extend(chunk.item_offsets.windows(2).map(|w| chunk.tokens[w[0] as usize..w[1] as usize].to_vec()));
    }
    out
}

#[test]
fn three_shards_merged_hold_the_documents_of_one_prepare_in_its_order() {
    let input = input_dir();
    let single = tempfile::tempdir().unwrap();
    let whole = run(&options(input.path(), single.path(), 2));
    let output = tempfile::tempdir().unwrap();
    let shard = |index| PrepareOptions { shard: Some(Shard::new(index, 3).unwrap()), ..options(input.path(), output.path(), 2) };

    run(&shard(0));
    run(&shard(2));
    let missing = merge(output.path()).unwrap_err().to_string();
    assert!(missing.contains("shard 1 of 3") && missing.contains("is missing"), "{missing}");
    run_cancelled_after(&PrepareOptions { num_workers: 1, ..shard(1) }, 0);
    let unfinished = merge(output.path()).unwrap_err().to_string();
    assert!(unfinished.contains("shard 1 of 3") && unfinished.contains("is not finished"), "{unfinished}");
    assert!(!output.path().join("train/index.json").exists(), "no index over part of the data");
    let resumed = run(&shard(1));
    assert!(resumed.files_resumed > 0, "the shard resumed where it stopped");

    let merged = merge(output.path()).unwrap();
    for split in ["train", "val"] {
        let (got, want) = (documents(&output.path().join(split)), documents(&single.path().join(split)));
        assert!(!want.is_empty());
        assert!(got == want, "{split}: {} documents merged, {} from one prepare, or in another order", got.len(), want.len());
    }
    assert_eq!((merged.train.documents, merged.train.tokens), (whole.train.documents, whole.train.tokens));
    assert_eq!((merged.val.documents, merged.val.tokens), (whole.val.documents, whole.val.tokens));
    let ranks: std::collections::BTreeSet<String> =
        read_index(&output.path().join("train")).unwrap().chunks.iter().map(|c| c.filename.split('-').nth(1).unwrap().to_owned()).collect();
    assert_eq!(ranks.into_iter().collect::<Vec<_>>(), ["0", "1", "2"], "each shard's chunks carry its rank");

    // A whole prepare's folder is not merged into (its chunk-0-* would mix with shard 0's).
    let whole_folder = merge(single.path()).unwrap_err().to_string();
    assert!(whole_folder.contains("holds a dataset of a whole (unsharded) prepare"), "{whole_folder}");

    // Merging again (after a crash, say) gives the same index.
    let index = std::fs::read(output.path().join("train/index.json")).unwrap();
    merge(output.path()).unwrap();
    assert_eq!(std::fs::read(output.path().join("train/index.json")).unwrap(), index);
}
