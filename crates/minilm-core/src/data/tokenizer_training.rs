//! `minilm tokenizer train`: a byte-level BPE like the reference minimind tokenizer, trained on the same
//! kind of input `prepare` reads, streamed (only word counts are kept, not the corpus). Words are counted
//! here and the counts handed to HF's BPE trainer (`BpeTrainer::do_train`), which learns the merges.
//!
//! Two bounds keep it fast and small on real corpora:
//! - A pre-tokenized word longer than [`MAX_WORD_BYTES`] is counted as pieces of that length. BPE training
//!   pays for every symbol of every distinct word at each merge, so one 200,000-character run of the same
//!   character (the byte-level pre-tokenizer keeps it as one word) used to cost minutes; cut, its pieces
//!   are one distinct word counted many times. Merges are learnt within pieces, so no token is longer than
//!   the cap; words under it (any normal text) count as before. Encoding is HF tokenizers' own, unchanged.
//! - At most `max_words` distinct words are kept (the most frequent, see [`WordCounts`]), which bounds
//!   memory on any corpus; `sample_fraction` keeps each document with that probability, chosen by a hash
//!   of (seed, file, row), and `max_documents` stops after that many: deterministic samples, for a faster
//!   run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use ahash::AHashMap;
use compact_str::CompactString;
use rayon::prelude::*;

use serde::Serialize;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainer, BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{
    AddedToken, NormalizerWrapper, OffsetReferential, OffsetType, PostProcessorWrapper, PreTokenizedString, PreTokenizer, TokenizerBuilder,
    TokenizerImpl,
};

use crate::data::prepare_state::is_validation;
use crate::data::readers::open_reader;
use crate::data::sources::{find_input_files, FileSelection};
use crate::error::{Error, IoContext, Result};
use crate::util::stable_hash;

pub const DEFAULT_VOCAB_SIZE: usize = 6400;
pub const DEFAULT_SPECIAL_TOKENS: [&str; 3] = ["<unk>", "<s>", "</s>"];
/// Longest pre-tokenized word counted whole, in bytes: 1,024 bytes is ~340 CJK characters, longer than
/// any sentence the byte-level pre-tokenizer keeps together in ordinary text.
pub const MAX_WORD_BYTES: usize = 1024;
pub const DEFAULT_SAMPLE_SEED: u64 = 42;
/// Distinct words kept for BPE. HF's trainer holds ~1-1.5 KB per distinct word while it merges (the
/// word's symbols and the pair index pointing into it), so this bounds training at about 2 GB whatever
/// the corpus size. It binds early on CJK text (78 MB of poems holds 3M distinct words), at a measured
/// cost of under 1% more tokens on held-out text (BENCHMARKS.md).
pub const DEFAULT_MAX_WORDS: usize = 1_000_000;

/// Word counts with bounded memory. When the table holds twice `max_words` distinct words, it is cut to
/// the `max_words` most frequent (ties broken by a hash of the word, so a uniform sample of them), and once
/// more at the end. Batches are added in file order, so the cuts, and the result, are deterministic.
struct WordCounts {
    counts: AHashMap<CompactString, u64>,
    max_words: usize,
    long_words: u64,
    pruned: u64,
}

impl WordCounts {
    fn new(max_words: usize) -> Self {
        WordCounts { counts: AHashMap::new(), max_words, long_words: 0, pruned: 0 }
    }

    fn add(&mut self, batch: BatchCounts) {
        self.long_words += batch.long_words;
        for (word, n) in batch.counts {
            *self.counts.entry(word).or_default() += n;
        }
        if self.counts.len() >= 2 * self.max_words.max(1) {
            self.prune();
        }
    }

    /// Keeps the max_words most frequent words.
    fn prune(&mut self) {
        if self.counts.len() <= self.max_words {
            return;
        }
        let rank = |word: &CompactString, n: u64| (std::cmp::Reverse(n), stable_hash(word.as_bytes()));
        let mut ranks: Vec<(std::cmp::Reverse<u64>, u64)> = self.counts.iter().map(|(w, &n)| rank(w, n)).collect();
        let (_, &mut last_kept, _) = ranks.select_nth_unstable(self.max_words - 1);
        let before = self.counts.len();
        self.counts.retain(|word, n| rank(word, *n) <= last_kept);
        self.pruned += (before - self.counts.len()) as u64;
    }

    /// The counts to train on, the long words, and the table entries the cuts dropped.
    fn finish(mut self) -> (AHashMap<CompactString, u64>, u64, u64) {
        self.prune();
        (self.counts, self.long_words, self.pruned)
    }
}

struct BatchCounts {
    counts: AHashMap<CompactString, u64>,
    long_words: u64,
}

/// Pre-tokenizes and counts one batch's words on all cores.
fn count_words(texts: &[String], pre_tokenizer: &ByteLevel) -> Result<BatchCounts> {
    texts
        .par_iter()
        .try_fold(
            || BatchCounts { counts: AHashMap::new(), long_words: 0 },
            |mut acc, text| {
                let mut pre = PreTokenizedString::from(text.as_str());
                pre_tokenizer.pre_tokenize(&mut pre).map_err(|e| Error::usage(format!("cannot pre-tokenize a text: {e}")))?;
                for (word, _, _) in pre.get_splits(OffsetReferential::Original, OffsetType::Byte) {
                    let symbols: Vec<char> = word.chars().collect(); // one byte-level symbol per byte
                    if symbols.len() > MAX_WORD_BYTES {
                        acc.long_words += 1;
                    }
                    for piece in symbols.chunks(MAX_WORD_BYTES) {
                        *acc.counts.entry(piece.iter().collect::<CompactString>()).or_default() += 1;
                    }
                }
                Ok(acc)
            },
        )
        .try_reduce(
            || BatchCounts { counts: AHashMap::new(), long_words: 0 },
            |mut a, b| {
                a.long_words += b.long_words;
                for (word, n) in b.counts {
                    *a.counts.entry(word).or_default() += n;
                }
                Ok(a)
            },
        )
}

#[derive(Clone, Debug)]
pub struct TrainTokenizerOptions {
    pub input_dir: PathBuf,
    pub output_dir: PathBuf,
    pub text_key: String,
    pub file_type: FileSelection,
    pub vocab_size: usize,
    /// In id order from 0; by convention unknown, beginning and end of sequence.
    pub special_tokens: Vec<String>,
    /// Train on at most this many documents (after sampling), in file order.
    pub max_documents: Option<u64>,
    /// Train on this share of the documents, chosen by a hash of (seed, file, row); 1 for all.
    pub sample_fraction: f64,
    pub seed: u64,
    /// Keep at most this many distinct words for BPE (the most frequent): what bounds memory.
    pub max_words: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainTokenizerSummary {
    pub output_dir: String,
    pub files: usize,
    pub documents: u64,
    pub text_bytes: u64,
    /// Words longer than MAX_WORD_BYTES that were counted as pieces.
    pub long_words: u64,
    /// Distinct words BPE was trained on.
    pub distinct_words: u64,
    /// Word-count entries dropped to stay within max_words, the rarest (0 when every word fit; a word
    /// dropped, seen again and dropped again counts twice).
    pub pruned_words: u64,
    pub vocab_size: usize,
    pub seconds: f64,
}

pub fn train_tokenizer(options: &TrainTokenizerOptions, cancel: &AtomicBool) -> Result<TrainTokenizerSummary> {
    let started = std::time::Instant::now();
    if options.vocab_size < 256 + options.special_tokens.len() {
        return Err(Error::usage(format!(
            "vocab_size must be at least {} (256 byte tokens plus the special tokens), not {}",
            256 + options.special_tokens.len(),
            options.vocab_size
        )));
    }
    if options.max_words == 0 {
        return Err(Error::usage("max_words must be at least 1"));
    }
    if !(options.sample_fraction > 0.0 && options.sample_fraction <= 1.0) {
        return Err(Error::usage(format!("sample_fraction must be above 0 and at most 1, not {}", options.sample_fraction)));
    }
    let files = find_input_files(&options.input_dir, options.file_type)?;

    let mut counts = WordCounts::new(options.max_words);
    let pre_tokenizer = pre_tokenizer();
    let (mut documents, mut text_bytes) = (0u64, 0u64);
    let max_documents = options.max_documents.unwrap_or(u64::MAX);
    'files: for file in &files {
        let file_hash = stable_hash(file.relative.as_bytes());
        let kept = |row: u64| options.sample_fraction >= 1.0 || is_validation(options.seed, file_hash, row, options.sample_fraction);
        let mut reader = open_reader(file.kind, &file.path, &options.text_key)?;
        while let Some(batch) = reader.next_batch()? {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let mut texts = Vec::with_capacity(batch.texts.len());
            batch.for_each_text(&file.path, &options.text_key, |row, text| {
                if let Some(text) = text.filter(|t| !t.is_empty() && kept(row)) {
                    texts.push(text.to_owned());
                }
                Ok(())
            })?;
            texts.truncate(usize::try_from(max_documents - documents).unwrap_or(usize::MAX));
            documents += texts.len() as u64;
            text_bytes += texts.iter().map(|t| t.len() as u64).sum::<u64>();
            counts.add(count_words(&texts, &pre_tokenizer)?);
            if documents == max_documents {
                break 'files;
            }
        }
    }
    if documents == 0 {
        return Err(Error::usage(format!("no texts found under {} to train on", options.input_dir.display())));
    }
    let (word_counts, long_words, pruned_words) = counts.finish();
    let mut model = BPE::default();
    let trainer = bpe_trainer(options.vocab_size, &options.special_tokens);
    let special_tokens = trainer.do_train(&word_counts, &mut model).map_err(|e| Error::usage(format!("tokenizer training failed: {e}")))?;
    let mut tokenizer = byte_level_tokenizer(model)?;
    tokenizer.add_special_tokens(special_tokens).map_err(|e| Error::usage(format!("cannot add the special tokens: {e}")))?;

    let out = &options.output_dir;
    std::fs::create_dir_all(out).at(out)?;
    let json = tokenizer.to_string(true).map_err(|e| Error::usage(format!("cannot serialise the tokenizer: {e}")))?;
    crate::util::write_atomically(&out.join("tokenizer.json"), &[json.as_bytes()])?;
    let config = tokenizer_config(&options.special_tokens);
    crate::util::write_atomically(&out.join("tokenizer_config.json"), &[config.as_bytes()])?;
    Ok(TrainTokenizerSummary {
        output_dir: out.display().to_string(),
        files: files.len(),
        documents,
        text_bytes,
        long_words,
        distinct_words: word_counts.len() as u64,
        pruned_words,
        vocab_size: tokenizer.get_vocab_size(true),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The BPE trainer of a byte-level tokenizer like the reference one: every byte in the alphabet, no
/// minimum frequency, the special tokens first.
pub fn bpe_trainer(vocab_size: usize, special_tokens: &[String]) -> BpeTrainer {
    let specials: Vec<AddedToken> = special_tokens.iter().map(|t| AddedToken::from(t.clone(), true)).collect();
    BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(0)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
}

/// GPT-2's byte-level pre-tokenizer, without a prefix space, with its regex split.
pub fn pre_tokenizer() -> ByteLevel {
    ByteLevel::new(false, true, true)
}

pub type ByteLevelTokenizer = TokenizerImpl<BPE, NormalizerWrapper, ByteLevel, PostProcessorWrapper, ByteLevelDecoder>;

/// A tokenizer around `model`: no normaliser or post-processor, the byte-level pre-tokenizer and decoder.
pub fn byte_level_tokenizer(model: BPE) -> Result<ByteLevelTokenizer> {
    TokenizerBuilder::new()
        .with_model(model)
        .with_normalizer(None)
        .with_pre_tokenizer(Some(pre_tokenizer()))
        .with_post_processor(None)
        .with_decoder(Some(ByteLevelDecoder::default()))
        .build()
        .map_err(|e| Error::usage(format!("cannot build the tokenizer: {e}")))
}

/// The chat template a trained tokenizer carries: each turn is BOS, the role, a newline, the content, EOS
/// and a newline, as the reference tokenizer's template writes them (without its fixed system prompt), so
/// that `minilm sft` can fine-tune a model trained with it. A reply ends with EOS, where generation stops.
pub const CHAT_TEMPLATE: &str = "{% for message in messages %}{{ bos_token + message['role'] + '\\n' + message['content'] + eos_token + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ bos_token + 'assistant\\n' }}{% endif %}";

/// tokenizer_config.json as the reference tokenizer has it: no BOS or EOS added by encode (prepare appends
/// EOS itself), the first three special tokens as unknown, BOS and EOS, and a chat template when there
/// are BOS and EOS tokens to write it with.
fn tokenizer_config(special_tokens: &[String]) -> String {
    let token = |i: usize| special_tokens.get(i).map(|t| serde_json::Value::String(t.clone())).unwrap_or(serde_json::Value::Null);
    let added: serde_json::Map<String, serde_json::Value> = special_tokens
        .iter()
        .enumerate()
        .map(|(id, content)| {
            (
                id.to_string(),
                serde_json::json!({
                    "content": content, "lstrip": false, "normalized": false,
                    "rstrip": false, "single_word": false, "special": true
                }),
            )
        })
        .collect();
    let mut config = serde_json::json!({
        "add_bos_token": false,
        "add_eos_token": false,
        "add_prefix_space": false,
        "added_tokens_decoder": added,
        "bos_token": token(1),
        "clean_up_tokenization_spaces": false,
        "eos_token": token(2),
        "model_max_length": 32768,
        "pad_token": token(0),
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": token(0),
    });
    if special_tokens.len() >= 3 {
        config["chat_template"] = serde_json::Value::String(CHAT_TEMPLATE.into());
    }
    serde_json::to_string_pretty(&config).expect("a JSON value serialises")
}
