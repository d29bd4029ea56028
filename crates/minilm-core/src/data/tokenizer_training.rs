//! `minilm tokenizer train`: a byte-level BPE like the reference minimind tokenizer, trained on the same
//! kind of input `prepare` reads, streamed (the trainer keeps word counts, not the corpus).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, TokenizerBuilder};

use crate::data::readers::{open_reader, parse_json_line, Texts};
use crate::data::sources::{find_input_files, FileType};
use crate::error::{Error, IoContext, Result};

pub const DEFAULT_VOCAB_SIZE: usize = 6400;
pub const DEFAULT_SPECIAL_TOKENS: [&str; 3] = ["<unk>", "<s>", "</s>"];

#[derive(Clone, Debug)]
pub struct TrainTokenizerOptions {
    pub input_dir: PathBuf,
    pub output_dir: PathBuf,
    pub text_key: String,
    pub file_type: Option<FileType>,
    pub vocab_size: usize,
    /// In id order from 0; by convention unknown, beginning and end of sequence.
    pub special_tokens: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainTokenizerSummary {
    pub output_dir: String,
    pub files: usize,
    pub documents: u64,
    pub text_bytes: u64,
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
    let (file_type, files) = find_input_files(&options.input_dir, options.file_type)?;

    let specials: Vec<AddedToken> = options.special_tokens.iter().map(|t| AddedToken::from(t.clone(), true)).collect();
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(options.vocab_size)
        .min_frequency(0)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tokenizer = TokenizerBuilder::<BPE, _, ByteLevel, _, ByteLevelDecoder>::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
        .with_post_processor(None::<tokenizers::PostProcessorWrapper>)
        .with_decoder(Some(ByteLevelDecoder::default()))
        .build()
        .map_err(|e| Error::usage(format!("cannot build the tokenizer: {e}")))?;

    // The trainer pulls texts from an iterator that cannot fail, so the first error waits here.
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let mut documents = 0u64;
    let mut text_bytes = 0u64;
    let texts = files
        .iter()
        .flat_map(|file| {
            let mut reader = open_reader(file_type, &file.path, &options.text_key);
            let failure = &failure;
            let text_key = &options.text_key;
            std::iter::from_fn(move || {
                if cancel.load(Ordering::Relaxed) || failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return None;
                }
                let fail = |e: Error| {
                    if let Ok(mut slot) = failure.lock() {
                        slot.get_or_insert(e);
                    }
                    None
                };
                let reader = match &mut reader {
                    Ok(reader) => reader,
                    Err(e) => return fail(std::mem::replace(e, Error::Cancelled)),
                };
                let batch = match reader.next_batch() {
                    Ok(Some(batch)) => batch,
                    Ok(None) => return None,
                    Err(e) => return fail(e),
                };
                let texts: Vec<String> = match batch.texts {
                    Texts::Decoded(texts) => texts.into_iter().flatten().collect(),
                    Texts::JsonLines { bytes, ends } => {
                        let mut out = Vec::with_capacity(ends.len());
                        let mut start = 0;
                        for (i, end) in ends.into_iter().enumerate() {
                            match parse_json_line(&file.path, batch.first_row + i as u64, &bytes[start..end], text_key) {
                                Ok(Some(text)) => out.push(text),
                                Ok(None) => {}
                                Err(e) => return fail(e),
                            }
                            start = end;
                        }
                        out
                    }
                };
                Some(texts)
            })
            .flatten()
            .filter(|t| !t.is_empty())
        })
        .inspect(|t| {
            documents += 1;
            text_bytes += t.len() as u64;
        });
    let trained = tokenizer.train(&mut trainer, texts).map(|_| ());
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    trained.map_err(|e| Error::usage(format!("tokenizer training failed: {e}")))?;
    if documents == 0 {
        return Err(Error::usage(format!("no texts found under {} to train on", options.input_dir.display())));
    }

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
        vocab_size: tokenizer.get_vocab_size(true),
        seconds: started.elapsed().as_secs_f64(),
    })
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
