//! `minilm tokenizer train`: a byte-level BPE like the reference minimind tokenizer, trained on the same
//! kind of input `prepare` reads, streamed (the trainer keeps word counts, not the corpus).
//!
//! Two bounds keep it fast and small on real corpora:
//! - A pre-tokenized word longer than [`MAX_WORD_BYTES`] is counted as pieces of that length. BPE training
//!   pays for every symbol of every distinct word at each merge, so one 200,000-character run of the same
//!   character (the byte-level pre-tokenizer keeps it as one word) used to cost minutes; cut, its pieces
//!   are one distinct word counted many times. Merges are learnt within pieces, so no token is longer than
//!   the cap; words under it (any normal text) count as before. Encoding is HF tokenizers' own, unchanged.
//! - `sample_fraction` keeps each document with that probability, chosen by a hash of (seed, file, row),
//!   and `max_documents` stops after that many: a deterministic sample, for corpora whose distinct words
//!   would not fit in memory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainer, BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{
    AddedToken, NormalizerWrapper, OffsetReferential, OffsetType, PostProcessorWrapper, PreTokenizedString, PreTokenizer, TokenizerBuilder,
    TokenizerImpl, Trainer,
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
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainTokenizerSummary {
    pub output_dir: String,
    pub files: usize,
    pub documents: u64,
    pub text_bytes: u64,
    /// Words longer than MAX_WORD_BYTES that were counted as pieces.
    pub long_words: u64,
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
    if !(options.sample_fraction > 0.0 && options.sample_fraction <= 1.0) {
        return Err(Error::usage(format!("sample_fraction must be above 0 and at most 1, not {}", options.sample_fraction)));
    }
    let files = find_input_files(&options.input_dir, options.file_type)?;

    let mut trainer = bpe_trainer(options.vocab_size, &options.special_tokens);
    let pre_tokenizer = pre_tokenizer();

    // The trainer pulls texts from an iterator that cannot fail, so the first error waits here.
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        if let Ok(mut slot) = failure.lock() {
            slot.get_or_insert(e);
        }
    };
    let stopped = || cancel.load(Ordering::Relaxed) || failure.lock().map(|f| f.is_some()).unwrap_or(true);
    let (documents, text_bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let max_documents = options.max_documents.unwrap_or(u64::MAX);
    let texts = files
        .iter()
        .flat_map(|file| {
            let file_hash = stable_hash(file.relative.as_bytes());
            let mut reader = Some(open_reader(file.kind, &file.path, &options.text_key));
            std::iter::from_fn(move || {
                if stopped() {
                    return None;
                }
                let reader = match reader.as_mut()? {
                    Ok(reader) => reader,
                    Err(_) => {
                        fail(reader.take()?.err()?);
                        return None;
                    }
                };
                let batch = match reader.next_batch() {
                    Ok(Some(batch)) => batch,
                    Ok(None) => return None,
                    Err(e) => {
                        fail(e);
                        return None;
                    }
                };
                let mut texts = Vec::with_capacity(batch.texts.len());
                let kept =
                    |row: u64| options.sample_fraction >= 1.0 || is_validation(options.seed, file_hash, row, options.sample_fraction);
                let read = batch.for_each_text(&file.path, &options.text_key, |row, text| {
                    if let Some(text) = text.filter(|t| !t.is_empty() && kept(row)) {
                        texts.push(text.to_owned());
                    }
                    Ok(())
                });
                if let Err(e) = read {
                    fail(e);
                    return None;
                }
                Some(texts)
            })
            .flatten()
        })
        .take_while(|text| {
            let taken = documents.fetch_add(1, Ordering::Relaxed) < max_documents;
            if taken {
                text_bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
            }
            taken
        });
    let long_words = AtomicU64::new(0);
    let fed = trainer.feed(texts, |text| {
        let mut pre = PreTokenizedString::from(text);
        pre_tokenizer.pre_tokenize(&mut pre)?;
        let mut words = Vec::new();
        for (word, _, _) in pre.get_splits(OffsetReferential::Original, OffsetType::Byte) {
            let symbols: Vec<char> = word.chars().collect(); // one byte-level symbol per byte
            if symbols.len() > MAX_WORD_BYTES {
                long_words.fetch_add(1, Ordering::Relaxed);
            }
            words.extend(symbols.chunks(MAX_WORD_BYTES).map(|piece| piece.iter().collect::<String>()));
        }
        Ok(words)
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    fed.map_err(|e| Error::usage(format!("tokenizer training failed: {e}")))?;
    let documents = documents.into_inner().min(max_documents);
    if documents == 0 {
        return Err(Error::usage(format!("no texts found under {} to train on", options.input_dir.display())));
    }
    let mut model = BPE::default();
    let special_tokens = trainer.train(&mut model).map_err(|e| Error::usage(format!("tokenizer training failed: {e}")))?;
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
        text_bytes: text_bytes.into_inner(),
        long_words: long_words.into_inner(),
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
