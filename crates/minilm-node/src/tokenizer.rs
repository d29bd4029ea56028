//! A tokenizer's encode and decode for JavaScript (minilm_core::data::tokenizer).

use std::path::Path;

use minilm_core::data::tokenizer::DocumentTokenizer;
use napi_derive::napi;

use crate::error::to_napi;

#[napi]
pub struct NativeTokenizer {
    inner: DocumentTokenizer,
}

#[napi]
impl NativeTokenizer {
    /// A folder with tokenizer.json (and tokenizer_config.json), or a tokenizer.json.
    #[napi(constructor, catch_unwind)]
    pub fn new(path: String) -> napi::Result<Self> {
        Ok(NativeTokenizer { inner: DocumentTokenizer::load(Path::new(&path)).map_err(to_napi)? })
    }

    /// Ids for a prompt: BOS if the tokenizer adds one, no EOS.
    #[napi]
    pub fn encode(&self, text: String) -> napi::Result<Vec<u32>> {
        self.inner.encode_prompt(&text).map_err(|e| napi::Error::from_reason(format!("cannot tokenize the text: {e}")))
    }

    /// Ids for text that spells its own special tokens (a rendered chat template): no BOS, no EOS.
    #[napi]
    pub fn encode_text(&self, text: String) -> napi::Result<Vec<u32>> {
        self.inner.encode_text(&text).map_err(|e| napi::Error::from_reason(format!("cannot tokenize the text: {e}")))
    }

    #[napi]
    pub fn decode(&self, ids: Vec<u32>) -> String {
        self.inner.decode(&ids)
    }

    #[napi(getter)]
    pub fn eos_id(&self) -> Option<u32> {
        self.inner.eos_id
    }

    #[napi(getter)]
    pub fn bos_id(&self) -> Option<u32> {
        self.inner.bos_id
    }

    #[napi(getter)]
    pub fn vocab_size(&self) -> u32 {
        self.inner.vocab_size() as u32
    }
}
