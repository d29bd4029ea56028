//! `minilm tokenizer train` against HF tokenizers' own training: on ordinary text minilm's bounded
//! feed (words cut at MAX_WORD_BYTES) learns exactly the tokenizer `Tokenizer::train` learns; a
//! pathological document costs little and is counted; sampling is deterministic.

use crate::support;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use minilm_core::data::parquet_writer::ParquetTextWriter;
use minilm_core::data::tokenizer_training::{bpe_trainer, byte_level_tokenizer, train_tokenizer, TrainTokenizerOptions, MAX_WORD_BYTES};
use support::corpus::{brown_paragraphs, poems};
use tokenizers::models::bpe::BPE;
use tokenizers::Tokenizer;

fn corpus() -> Vec<String> {
    let mut texts = poems(3000);
    texts.extend(brown_paragraphs(2000));
    texts
}

fn write_corpus(dir: &Path, texts: &[String]) {
    let mut writer = ParquetTextWriter::create(&dir.join("part.parquet"), "text", "zstd", 1000).unwrap();
    writer.write(&texts.iter().cloned().map(Some).collect::<Vec<_>>()).unwrap();
    writer.close().unwrap();
}

fn options(input: &Path, output: &Path) -> TrainTokenizerOptions {
    TrainTokenizerOptions {
        input_dir: input.to_path_buf(),
        output_dir: output.to_path_buf(),
        text_key: "text".into(),
        file_type: Default::default(),
        vocab_size: 1200,
        special_tokens: vec!["<unk>".into(), "<s>".into(), "</s>".into()],
        max_documents: None,
        max_words: minilm_core::data::tokenizer_training::DEFAULT_MAX_WORDS,
        sample_fraction: 1.0,
        seed: 42,
    }
}

/// The same tokenizer trained by HF tokenizers' `Tokenizer::train` on the same texts.
fn hf_trained(texts: &[String], vocab_size: usize) -> String {
    let specials = ["<unk>", "<s>", "</s>"].map(String::from);
    let mut trainer = bpe_trainer(vocab_size, &specials);
    let mut tokenizer = byte_level_tokenizer(BPE::default()).unwrap();
    tokenizer.train(&mut trainer, texts.iter()).unwrap();
    tokenizer.to_string(true).unwrap()
}

fn model_of(json: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(json).unwrap()["model"].clone()
}

#[test]
fn on_ordinary_text_it_learns_what_hf_tokenizers_learns() {
    let (input, output) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let texts = corpus();
    write_corpus(input.path(), &texts);
    let summary = train_tokenizer(&options(input.path(), output.path()), &AtomicBool::new(false)).unwrap();
    assert_eq!((summary.documents, summary.long_words), (texts.len() as u64, 0));
    let ours = std::fs::read_to_string(output.path().join("tokenizer.json")).unwrap();
    assert_eq!(model_of(&ours), model_of(&hf_trained(&texts, 1200)), "the same vocabulary and merges");
}

#[test]
fn a_huge_repeated_word_is_counted_in_pieces_and_encodes_as_hf_does() {
    let (input, output) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut texts = corpus();
    texts.insert(100, "嗯".repeat(200_000));
    write_corpus(input.path(), &texts);
    let summary = train_tokenizer(&options(input.path(), output.path()), &AtomicBool::new(false)).unwrap();
    assert_eq!(summary.long_words, 1);
    let tokenizer = Tokenizer::from_file(output.path().join("tokenizer.json")).unwrap();
    let longest = tokenizer.get_vocab(false).keys().map(|t| t.chars().count()).max().unwrap();
    assert!(longest <= MAX_WORD_BYTES, "no token longer than the cap: {longest}");
    // What HF tokenizers does with the file is the encoding: it round-trips every text.
    for text in [&texts[0], &texts[100], &texts[4000]] {
        let ids = tokenizer.encode(text.as_str(), false).unwrap().get_ids().to_vec();
        assert_eq!(&tokenizer.decode(&ids, false).unwrap(), text);
    }
}

#[test]
fn samples_are_deterministic_and_bounded() {
    let input = tempfile::tempdir().unwrap();
    write_corpus(input.path(), &corpus());
    let run = |fraction: f64, max: Option<u64>| {
        let output = tempfile::tempdir().unwrap();
        let mut o = options(input.path(), output.path());
        o.sample_fraction = fraction;
        o.max_documents = max;
        let summary = train_tokenizer(&o, &AtomicBool::new(false)).unwrap();
        (summary.documents, std::fs::read_to_string(output.path().join("tokenizer.json")).unwrap())
    };
    let (half, first) = run(0.5, None);
    assert!((2200..2800).contains(&half), "{half} of 5000");
    assert_eq!(run(0.5, None), (half, first), "the same sample twice");
    assert_eq!(run(1.0, Some(700)).0, 700);
    assert_eq!(run(0.5, Some(700)).0, 700);
}

/// The word counts of `texts` as the trainer sees them (HF's byte-level pre-tokenizer, no long words here).
fn word_counts(texts: &[String]) -> ahash::AHashMap<compact_str::CompactString, u64> {
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};
    let pre_tokenizer = minilm_core::data::tokenizer_training::pre_tokenizer();
    let mut counts = ahash::AHashMap::new();
    for text in texts {
        let mut pre = PreTokenizedString::from(text.as_str());
        pre_tokenizer.pre_tokenize(&mut pre).unwrap();
        for (word, _, _) in pre.get_splits(OffsetReferential::Original, OffsetType::Byte) {
            *counts.entry(compact_str::CompactString::from(word)).or_insert(0u64) += 1;
        }
    }
    counts
}

#[test]
fn max_words_keeps_the_most_frequent_words_and_bounds_the_table() {
    let (input, output) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let texts = corpus();
    write_corpus(input.path(), &texts);
    let all = word_counts(&texts);
    // Under twice the distinct words, only the final cut happens: it must keep exactly the max_words most
    // frequent words, ties broken by the word's stable hash.
    let max_words = all.len() * 2 / 3;
    let mut o = options(input.path(), output.path());
    o.max_words = max_words;
    let summary = train_tokenizer(&o, &AtomicBool::new(false)).unwrap();
    assert_eq!((summary.distinct_words, summary.pruned_words), (max_words as u64, (all.len() - max_words) as u64));

    let mut ranked: Vec<_> = all.iter().collect();
    ranked.sort_by_key(|(word, &n)| (std::cmp::Reverse(n), minilm_core::util::stable_hash(word.as_bytes())));
    let kept: ahash::AHashMap<_, _> = ranked[..max_words].iter().map(|(w, &n)| ((*w).clone(), n)).collect();
    let mut model = BPE::default();
    let specials = ["<unk>", "<s>", "</s>"].map(String::from);
    let added = bpe_trainer(1200, &specials).do_train(&kept, &mut model).unwrap();
    let mut reference = byte_level_tokenizer(model).unwrap();
    reference.add_special_tokens(added).unwrap();
    let ours = std::fs::read_to_string(output.path().join("tokenizer.json")).unwrap();
    assert_eq!(model_of(&ours), model_of(&reference.to_string(true).unwrap()), "BPE on the top max_words words");

    // A table far over the cap is cut as it goes and still ends at max_words, the same on every run.
    o.max_words = 500;
    let first = train_tokenizer(&o, &AtomicBool::new(false)).unwrap();
    let first_json = std::fs::read_to_string(output.path().join("tokenizer.json")).unwrap();
    let again = train_tokenizer(&o, &AtomicBool::new(false)).unwrap();
    assert_eq!(first.distinct_words, 500);
    assert!(first.pruned_words >= (all.len() - 500) as u64);
    assert_eq!(again.pruned_words, first.pruned_words);
    assert_eq!(std::fs::read_to_string(output.path().join("tokenizer.json")).unwrap(), first_json);
}
