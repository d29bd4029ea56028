//! A tokenizer's chat template (tokenizer_config.json's `chat_template`), rendered the way transformers'
//! apply_chat_template renders it, so that encoding the text with `DocumentTokenizer::encode_text`
//! gives its `tokenize=True` ids (test/chat-template.test.ts checks both reference tokenizers against
//! ids made by transformers, scripts/reference/make_chat_golden.py):
//!
//! - a Jinja engine (minijinja) with trim_blocks, lstrip_blocks and loop controls, and Python's string
//!   methods (`str.strip(chars)`, `startswith`, ...) through minijinja-contrib's pycompat;
//! - `tojson` as transformers defines it: `json.dumps(x, ensure_ascii=False)`, keys in their order;
//! - `raise_exception(message)` for templates that refuse a conversation;
//! - as variables: the messages (keys whose value is null left out, as transformers drops None), tools,
//!   add_generation_prompt, the template's own keywords and the tokenizer's special tokens.

use std::path::{Path, PathBuf};

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, ErrorKind};

use crate::error::{Error, Result};

/// tokenizer_config.json keys a template sees as variables, as transformers passes its special tokens.
const SPECIAL_TOKEN_KEYS: [&str; 7] = ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"];

/// What a conversation is rendered with besides its messages.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// Function schemas, for templates that offer tools.
    pub tools: Option<Value>,
    /// End with the assistant's header, so that the model writes the reply.
    pub add_generation_prompt: bool,
    /// Keywords the template reads (minimind3's open_thinking, say), as a map.
    pub template_kwargs: Option<Value>,
}

pub struct ChatTemplate {
    env: Environment<'static>,
    special_tokens: Vec<(&'static str, String)>,
    /// tokenizer_config.json, for messages.
    pub file: PathBuf,
}

impl ChatTemplate {
    /// The template of a tokenizer folder (or a checkpoint, which carries its tokenizer's files).
    pub fn load(dir: &Path) -> Result<Self> {
        let file = dir.join("tokenizer_config.json");
        let text = std::fs::read_to_string(&file).map_err(|e| {
            Error::input(
                &file,
                None,
                format!("cannot read the tokenizer's config ({e}); expected the tokenizer_config.json that holds its chat_template"),
            )
        })?;
        let config: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::input(&file, None, format!("is not valid JSON ({e})")))?;
        let source = default_template(&config["chat_template"]).ok_or_else(|| {
            Error::input(&file, None, "has no chat_template; a chat model needs a tokenizer whose tokenizer_config.json defines one")
        })?;
        let special_tokens = SPECIAL_TOKEN_KEYS.iter().filter_map(|&key| token_text(&config[key]).map(|t| (key, t))).collect();

        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", python_tojson);
        env.add_function("raise_exception", |message: String| -> std::result::Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned("chat_template", source)
            .map_err(|e| Error::input(&file, None, format!("its chat_template is not valid Jinja: {}", jinja_message(&e))))?;
        Ok(ChatTemplate { env, special_tokens, file })
    }

    /// The conversation as the model sees it. `messages` is the list of turns as JSON data; a template
    /// error is a usage error quoting Jinja's message.
    pub fn render(&self, messages: &Value, options: &RenderOptions) -> Result<String> {
        let mut variables: Vec<(String, Value)> =
            self.special_tokens.iter().map(|(k, v)| (k.to_string(), Value::from(v.as_str()))).collect();
        if let Some(kwargs) = &options.template_kwargs {
            for key in kwargs.try_iter().map_err(|e| Error::usage(format!("template keywords: {e}")))? {
                let value = kwargs.get_item(&key).unwrap_or_default();
                variables.push((key.to_string(), value));
            }
        }
        let messages: Vec<Value> = messages
            .try_iter()
            .map_err(|_| Error::usage("the conversation's messages must be a list"))?
            .map(|message| as_template_sees(&message))
            .collect();
        variables.push(("messages".into(), Value::from(messages)));
        variables.push(("tools".into(), options.tools.clone().unwrap_or(Value::UNDEFINED)));
        variables.push(("add_generation_prompt".into(), Value::from(options.add_generation_prompt)));
        let context = Value::from_iter(variables);
        let template = self.env.get_template("chat_template").map_err(|e| Error::internal(e.to_string()))?;
        template.render(context).map_err(|e| {
            Error::usage(format!("{}: the chat_template cannot render this conversation: {}", self.file.display(), jinja_message(&e)))
        })
    }
}

/// A chat_template is one string, or a list of named ones of which "default" is used.
fn default_template(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(list) => {
            list.iter().find(|t| t["name"] == "default").and_then(|t| t["template"].as_str()).map(str::to_owned)
        }
        _ => None,
    }
}

/// A special token as tokenizer_config.json writes it: its text, or an AddedToken object with `content`.
fn token_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// A message as transformers hands it to a template: keys whose value is None left out (the template
/// sees them undefined), and reasoning_content taken from `thinking` or `reasoning` when only those are set.
fn as_template_sees(message: &Value) -> Value {
    if message.kind() != ValueKind::Map {
        return message.clone();
    }
    let mut kept: Vec<(Value, Value)> = Vec::new();
    for key in message.try_iter().into_iter().flatten() {
        let value = message.get_item(&key).unwrap_or_default();
        if !value.is_none() && !value.is_undefined() {
            kept.push((key, value));
        }
    }
    let has = |name: &str| kept.iter().any(|(k, _)| k.as_str() == Some(name));
    if !has("reasoning_content") {
        let reasoning = kept.iter().find(|(k, _)| matches!(k.as_str(), Some("thinking") | Some("reasoning"))).map(|(_, v)| v.clone());
        if let Some(reasoning) = reasoning {
            kept.push((Value::from("reasoning_content"), reasoning));
        }
    }
    Value::from_iter(kept)
}

/// transformers' `tojson`: Python's json.dumps(value, ensure_ascii=False), with its ", " and ": " separators.
fn python_tojson(value: Value) -> std::result::Result<Value, minijinja::Error> {
    let mut out = String::new();
    write_json(&value, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(value: &Value, out: &mut String) -> std::result::Result<(), minijinja::Error> {
    let unsupported = |what: &str| minijinja::Error::new(ErrorKind::InvalidOperation, format!("tojson cannot write {what}"));
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => match i64::try_from(value.clone()) {
            Ok(int) if value.is_integer() => out.push_str(&int.to_string()),
            _ => {
                let float = f64::try_from(value.clone()).map_err(|_| unsupported("this number"))?;
                // Python writes floats with their shortest repr, always with a point or an exponent.
                let text = format!("{float:?}");
                out.push_str(&text);
            }
        },
        ValueKind::String => {
            out.push_str(&serde_json::to_string(value.as_str().unwrap_or_default()).map_err(|_| unsupported("this string"))?)
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(&item, out)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let name = key.as_str().map(str::to_owned).unwrap_or_else(|| key.to_string());
                out.push_str(&serde_json::to_string(&name).map_err(|_| unsupported("this key"))?);
                out.push_str(": ");
                write_json(&value.get_item(&key)?, out)?;
            }
            out.push('}');
        }
        _ => return Err(unsupported("this value")),
    }
    Ok(())
}

/// Jinja's message with its line, for the user.
fn jinja_message(error: &minijinja::Error) -> String {
    match error.line() {
        Some(line) => format!("{} (template line {line})", error.detail().unwrap_or(&error.kind().to_string())),
        None => error.detail().map(str::to_owned).unwrap_or_else(|| error.kind().to_string()),
    }
}
