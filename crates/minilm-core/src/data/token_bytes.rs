//! The UTF-8 bytes each token stands for: bits per byte's denominator. Bits per byte can be compared
//! across tokenizers where loss per token cannot, which is why nanochat logs val_bpb.

use std::collections::HashSet;

use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::Tokenizer;

/// `lengths[id]`: the bytes of text token `id` decodes to; 0 for special tokens (EOS, chat markers) and
/// for ids past the vocabulary (a model's padded rows), which bits per byte leaves out of both sums.
pub struct TokenBytes {
    pub lengths: Vec<u32>,
}

impl TokenBytes {
    /// The table for ids 0..size.
    ///
    /// A byte-level BPE (GPT-2's scheme, minimind's tokenizers) spells every byte as one character of a
    /// 256-character alphabet, so a token stands for as many bytes as it has characters; counting them
    /// stays exact for tokens that hold part of a multi-byte character, where decoding the token alone
    /// would give U+FFFD. Other tokenizers: byte-fallback tokens (`<0x0A>`) are one byte, and a
    /// SentencePiece `▁` is the space it stands for.
    pub fn of(tokenizer: &Tokenizer, size: usize) -> TokenBytes {
        let byte_level = uses_byte_level(tokenizer);
        let alphabet = ByteLevel::alphabet();
        let added = tokenizer.get_added_tokens_decoder();
        let lengths = (0..size as u32)
            .map(|id| {
                if let Some(token) = added.get(&id) {
                    // Added tokens are kept as written, not in the byte-level alphabet.
                    return if token.special { 0 } else { token.content.len() as u32 };
                }
                let Some(token) = tokenizer.id_to_token(id) else { return 0 };
                if byte_level {
                    token.chars().map(|c| if alphabet.contains(&c) { 1 } else { c.len_utf8() as u32 }).sum()
                } else if is_byte_fallback(&token) {
                    1
                } else {
                    token.replace('\u{2581}', " ").len() as u32
                }
            })
            .collect();
        TokenBytes { lengths }
    }

    pub fn get(&self, id: u32) -> u32 {
        self.lengths.get(id as usize).copied().unwrap_or(0)
    }

    /// The bytes a sequence of ids stands for.
    pub fn total(&self, ids: &[u32]) -> u64 {
        ids.iter().map(|&id| self.get(id) as u64).sum()
    }
}

/// Whether the tokenizer decodes through the byte-level alphabet (its decoder, or one in a sequence).
fn uses_byte_level(tokenizer: &Tokenizer) -> bool {
    let Some(decoder) = tokenizer.get_decoder() else { return false };
    let json = serde_json::to_value(decoder).unwrap_or_default();
    let mut types = HashSet::new();
    collect_types(&json, &mut types);
    types.contains("ByteLevel")
}

fn collect_types<'a>(value: &'a serde_json::Value, types: &mut HashSet<&'a str>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(t)) = map.get("type") {
                types.insert(t);
            }
            map.values().for_each(|v| collect_types(v, types));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_types(v, types)),
        _ => {}
    }
}

fn is_byte_fallback(token: &str) -> bool {
    token.len() == 6 && token.starts_with("<0x") && token.ends_with('>') && u8::from_str_radix(&token[3..5], 16).is_ok()
}
