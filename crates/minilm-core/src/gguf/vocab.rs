//! A tokenizer.json as GGUF's `tokenizer.ggml.*` metadata for llama.cpp's "gpt2" (byte-level BPE)
//! tokenizer: every token with its type, the merges, and the pre-tokenizer name. Only a tokenizer that
//! llama.cpp splits exactly as Hugging Face tokenizers does is accepted: a file that loads but
//! tokenizes differently would be worse than an error.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;

use crate::error::{Error, Result};

/// llama.cpp's token types (llama_token_type): what a token is when text is tokenized and decoded.
pub const NORMAL: i32 = 1;
pub const CONTROL: i32 = 3;
pub const USER_DEFINED: i32 = 4;
pub const UNUSED: i32 = 5;

pub struct GgufVocab {
    /// One per id up to the model's padded vocabulary; ids past the tokenizer's are "[PAD<id>]", unused.
    pub tokens: Vec<String>,
    pub token_types: Vec<i32>,
    /// "left right", in priority order.
    pub merges: Vec<String>,
    /// llama.cpp's name for the pre-tokenizer that splits as tokenizer.json's does.
    pub pre: &'static str,
}

/// Reads `tokenizer.json`, refusing what llama.cpp's gpt2 tokenizer would split or map differently.
pub fn read_vocab(tokenizer_json: &Path, padded_vocab_size: usize) -> Result<GgufVocab> {
    let bad = |message: String| Error::input(tokenizer_json, None, message);
    let text = std::fs::read_to_string(tokenizer_json).map_err(|e| bad(format!("cannot read the tokenizer: {e}")))?;
    let json: Json = serde_json::from_str(&text).map_err(|e| bad(format!("is not JSON: {e}")))?;
    let model = &json["model"];
    if model["type"] != "BPE" {
        return Err(bad(format!("GGUF export takes a byte-level BPE tokenizer; this one's model is {}", model["type"])));
    }
    let pre = pre_tokenizer_name(&json["pre_tokenizer"]).map_err(bad)?;
    if !json["normalizer"].is_null() {
        return Err(bad(format!(
            "has a normalizer ({}), which llama.cpp's gpt2 tokenizer does not apply: the GGUF would tokenize differently",
            json["normalizer"]["type"]
        )));
    }
    for (flag, why) in [("byte_fallback", "byte fallback"), ("ignore_merges", "ignore_merges (whole words looked up before merging)")] {
        if model[flag] == true {
            return Err(bad(format!("uses {why}, which llama.cpp's gpt2 tokenizer does not: the GGUF would tokenize differently")));
        }
    }

    let mut by_id: HashMap<usize, (String, i32)> = HashMap::new();
    let vocab = model["vocab"].as_object().ok_or_else(|| bad("has no model.vocab object".into()))?;
    for (token, id) in vocab {
        let id = id.as_u64().ok_or_else(|| bad(format!("model.vocab[{token:?}] is not an id")))? as usize;
        by_id.insert(id, (token.clone(), NORMAL));
    }
    for added in json["added_tokens"].as_array().into_iter().flatten() {
        let (Some(id), Some(content)) = (added["id"].as_u64(), added["content"].as_str()) else {
            return Err(bad(format!("an added_tokens entry has no id or content: {added}")));
        };
        let kind = if added["special"] == true { CONTROL } else { USER_DEFINED };
        by_id.insert(id as usize, (content.to_string(), kind));
    }
    let tokenizer_size = by_id.keys().max().map_or(0, |&max| max + 1);
    if tokenizer_size > padded_vocab_size {
        return Err(bad(format!("has {tokenizer_size} tokens, more than the model's vocabulary of {padded_vocab_size}")));
    }
    let (mut tokens, mut token_types) = (Vec::with_capacity(padded_vocab_size), Vec::with_capacity(padded_vocab_size));
    for id in 0..padded_vocab_size {
        match by_id.remove(&id) {
            Some((token, kind)) => {
                tokens.push(token);
                token_types.push(kind);
            }
            None if id < tokenizer_size => return Err(bad(format!("has no token with id {id} (ids must run from 0 without gaps)"))),
            // The model's padding rows past the tokenizer: never produced by tokenizing, named as
            // llama.cpp's own converter names them.
            None => {
                tokens.push(format!("[PAD{id}]"));
                token_types.push(UNUSED);
            }
        }
    }

    // Merges are "left right" strings in older files and [left, right] pairs in newer ones.
    let merges = model["merges"]
        .as_array()
        .ok_or_else(|| bad("has no model.merges list".into()))?
        .iter()
        .map(|merge| match merge {
            Json::String(pair) => Ok(pair.clone()),
            Json::Array(pair) if pair.len() == 2 && pair.iter().all(Json::is_string) => {
                Ok(format!("{} {}", pair[0].as_str().unwrap_or_default(), pair[1].as_str().unwrap_or_default()))
            }
            other => Err(bad(format!("model.merges has an entry that is not a pair: {other}"))),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(GgufVocab { tokens, token_types, merges, pre })
}

/// llama.cpp's pre-tokenizer for this tokenizer.json pre_tokenizer, or why there is none.
fn pre_tokenizer_name(pre: &Json) -> std::result::Result<&'static str, String> {
    // ByteLevel with the GPT-2 regex and no prefix space is GPT-2's own pre-tokenizer.
    if pre["type"] == "ByteLevel" && pre["use_regex"] != false && pre["add_prefix_space"] != true {
        return Ok("gpt-2");
    }
    Err(format!(
        "has a pre-tokenizer llama.cpp has no equivalent for ({pre}); GGUF export takes ByteLevel with the GPT-2 regex and \
         add_prefix_space false, so that llama.cpp splits text exactly as this tokenizer does"
    ))
}
