//! A tokenizer's chat template (minilm_core::data::chat_template) for JavaScript.

use std::path::Path;

use minijinja::Value;
use minilm_core::data::chat_template::{ChatTemplate, RenderOptions};
use napi_derive::napi;

use crate::error::{guarded, to_napi};

/// Messages, tools and template keywords are free-form JSON data (tool calls, JSON schemas), and a
/// template's `tojson` writes their keys in the order given, so they cross as JSON text, not as napi
/// objects (which would not keep the order).
fn parse(what: &str, json: &str) -> napi::Result<Value> {
    serde_json::from_str(json).map_err(|e| to_napi(minilm_core::Error::usage(format!("{what}: not valid JSON ({e})"))))
}

#[napi]
pub struct NativeChatTemplate {
    inner: ChatTemplate,
}

#[napi]
impl NativeChatTemplate {
    /// The chat_template of a tokenizer folder's tokenizer_config.json.
    #[napi(constructor, catch_unwind)]
    pub fn new(dir: String) -> napi::Result<Self> {
        Ok(NativeChatTemplate { inner: guarded(|| ChatTemplate::load(Path::new(&dir)))? })
    }

    /// The conversation as the model sees it: `messages_json` a JSON list of turns, `tools_json` a JSON
    /// list of function schemas, `template_kwargs_json` a JSON object of the template's own keywords.
    #[napi(catch_unwind)]
    pub fn render(
        &self,
        messages_json: String,
        add_generation_prompt: bool,
        tools_json: Option<String>,
        template_kwargs_json: Option<String>,
    ) -> napi::Result<String> {
        let messages = parse("messages", &messages_json)?;
        let options = RenderOptions {
            tools: tools_json.as_deref().map(|t| parse("tools", t)).transpose()?,
            add_generation_prompt,
            template_kwargs: template_kwargs_json.as_deref().map(|k| parse("template keywords", k)).transpose()?,
        };
        guarded(|| self.inner.render(&messages, &options))
    }
}
