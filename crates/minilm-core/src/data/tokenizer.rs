//! The tokenizer as prepare uses it: HF tokenizers' ids for a tokenizer.json, with BOS / EOS added the
//! way litgpt does (`tokenizer_config.json`'s add_bos_token; EOS always ends a pretraining document).

use std::path::{Path, PathBuf};

use crate::data::token_dtype::TokenDtype;
use crate::error::{Error, Result};

/// Where a token came from in its text: start and end byte offsets.
pub type ByteRange = (usize, usize);

pub struct DocumentTokenizer {
    inner: tokenizers::Tokenizer,
    /// The tokenizer.json actually loaded.
    pub path: PathBuf,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    /// The largest id the tokenizer can produce (vocabulary and added tokens).
    pub max_id: u32,
    /// A hash of the files' contents, so that a resumed run can check it still uses the same tokenizer.
    pub fingerprint: String,
}

impl DocumentTokenizer {
    /// `path` is a folder holding tokenizer.json (and usually tokenizer_config.json), or the
    /// tokenizer.json file itself.
    pub fn load(path: &Path) -> Result<Self> {
        let json_path = if path.is_dir() { path.join("tokenizer.json") } else { path.to_path_buf() };
        if !json_path.exists() {
            return Err(Error::tokenizer(
                path,
                if path.is_dir() {
                    "the folder has no tokenizer.json; expected a folder with tokenizer.json and tokenizer_config.json, or the path of a tokenizer.json"
                } else {
                    "does not exist; expected a folder with tokenizer.json and tokenizer_config.json, or the path of a tokenizer.json"
                },
            ));
        }
        let json = std::fs::read(&json_path).map_err(|e| Error::tokenizer(&json_path, format!("cannot read it: {e}")))?;
        let inner = tokenizers::Tokenizer::from_bytes(&json)
            .map_err(|e| Error::tokenizer(&json_path, format!("not a valid Hugging Face tokenizer.json ({e})")))?;
        let config_path = json_path.with_file_name("tokenizer_config.json");
        let config: serde_json::Value = match std::fs::read(&config_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::tokenizer(&config_path, format!("not valid JSON ({e}); expected a tokenizer_config.json")))?,
            Err(_) => serde_json::Value::Null,
        };

        let special = |key: &str| -> Option<u32> {
            let token = match config.get(key)? {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Object(o) => o.get("content")?.as_str()?.to_owned(),
                _ => return None,
            };
            inner.token_to_id(&token)
        };
        // litgpt: BOS when add_bos_token says so; a LlamaTokenizer without that key defaults to BOS.
        let use_bos = match config.get("add_bos_token").and_then(|v| v.as_bool()) {
            Some(flag) => flag,
            None => config.get("tokenizer_class").and_then(|v| v.as_str()) == Some("LlamaTokenizer"),
        };
        let bos_id = if use_bos { special("bos_token") } else { None };
        if use_bos && bos_id.is_none() {
            return Err(Error::tokenizer(&config_path, "add_bos_token is true but bos_token is missing or not in the vocabulary"));
        }
        let eos_id = special("eos_token");

        let vocab_max = inner.get_vocab(true).values().copied().max().unwrap_or(0);
        let mut fingerprint_input = json.clone();
        fingerprint_input.extend_from_slice(format!("|bos={bos_id:?}|eos={eos_id:?}").as_bytes());
        Ok(DocumentTokenizer {
            inner,
            path: json_path,
            bos_id,
            eos_id,
            max_id: vocab_max,
            fingerprint: format!("{:016x}", crate::util::stable_hash(&fingerprint_input)),
        })
    }

    /// The Hugging Face tokenizer itself (evaluation reads its vocabulary).
    pub fn hf(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// The smallest litdata dtype that holds every id, or the requested one if the ids fit in it.
    pub fn dtype(&self, requested: Option<TokenDtype>) -> Result<TokenDtype> {
        let needed = TokenDtype::for_max_id(self.max_id);
        match requested {
            None => Ok(needed),
            Some(dtype) if dtype.max_id() >= self.max_id => Ok(dtype),
            Some(dtype) => Err(Error::tokenizer(
                &self.path,
                format!(
                    "its ids go up to {}, which do not fit {} (at most {}); use dtype {} or leave dtype unset",
                    self.max_id,
                    dtype.name(),
                    dtype.max_id(),
                    needed.name()
                ),
            )),
        }
    }

    /// The ids of one document: exactly HF tokenizers' `encode(text).ids`, then BOS / EOS as litgpt adds them.
    pub fn encode_document(&self, text: &str) -> std::result::Result<Vec<u32>, String> {
        let encoding = self.inner.encode_fast(text, true).map_err(|e| e.to_string())?;
        let mut ids = Vec::with_capacity(encoding.len() + 2);
        if let Some(bos) = self.bos_id {
            if encoding.get_ids().first() != Some(&bos) {
                ids.push(bos);
            }
        }
        ids.extend_from_slice(encoding.get_ids());
        if let Some(eos) = self.eos_id {
            if ids.last() != Some(&eos) {
                ids.push(eos);
            }
        }
        Ok(ids)
    }

    /// A generation prompt: BOS as for a document, no EOS (litgpt's `encode(prompt, eos=False)`).
    pub fn encode_prompt(&self, text: &str) -> std::result::Result<Vec<u32>, String> {
        let mut ids = self.encode_document(text)?;
        if self.eos_id.is_some() && ids.last() == self.eos_id.as_ref() && ids.len() > usize::from(self.bos_id.is_some()) {
            ids.pop();
        }
        Ok(ids)
    }

    /// Exactly HF tokenizers' `encode(text, add_special_tokens=False).ids`: what transformers'
    /// apply_chat_template(tokenize=True) gives for a rendered conversation, whose template writes
    /// the special tokens itself.
    pub fn encode_text(&self, text: &str) -> std::result::Result<Vec<u32>, String> {
        Ok(self.inner.encode_fast(text, false).map_err(|e| e.to_string())?.get_ids().to_vec())
    }

    /// `encode_text`'s ids with each token's byte range in `text` (a byte that starts a multi-byte
    /// character's tokens gives them all that character's range).
    pub fn encode_text_with_offsets(&self, text: &str) -> std::result::Result<(Vec<u32>, Vec<ByteRange>), String> {
        let encoding = self.inner.encode(text, false).map_err(|e| e.to_string())?;
        Ok((encoding.get_ids().to_vec(), encoding.get_offsets().to_vec()))
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_else(|e| format!("<cannot decode: {e}>"))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}
