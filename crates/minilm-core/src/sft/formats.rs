//! The conversation formats SFT data comes in, each turned into the OpenAI-style list of messages
//! (`{"role", "content", ...}`) that chat templates read:
//!
//! - minimind: `{"conversations": [{"role", "content"}, ...]}`
//! - OpenAI: `{"messages": [{"role", "content"}, ...]}` (tool calls, reasoning and other keys kept)
//! - ShareGPT: `{"conversations": [{"from": "human" | "gpt" | "system", "value"}, ...]}`
//! - Alpaca: `{"instruction", "input", "output"}` (input, when not empty, follows the instruction after a
//!   blank line, as in litgpt's Alpaca prompt)
//!
//! A record's format is detected from its keys, or fixed by the caller for a whole run.

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConversationFormat {
    Minimind,
    OpenAi,
    ShareGpt,
    Alpaca,
}

impl ConversationFormat {
    pub const ALL: [ConversationFormat; 4] =
        [ConversationFormat::Minimind, ConversationFormat::OpenAi, ConversationFormat::ShareGpt, ConversationFormat::Alpaca];

    pub fn name(self) -> &'static str {
        match self {
            ConversationFormat::Minimind => "minimind",
            ConversationFormat::OpenAi => "openai",
            ConversationFormat::ShareGpt => "sharegpt",
            ConversationFormat::Alpaca => "alpaca",
        }
    }

    pub fn parse(name: &str) -> Option<ConversationFormat> {
        ConversationFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The format a record is written in, from its keys; None when it matches none.
    pub fn detect(record: &Map<String, Value>) -> Option<ConversationFormat> {
        if record.contains_key("messages") {
            return Some(ConversationFormat::OpenAi);
        }
        if let Some(turns) = record.get("conversations") {
            let first = turns.as_array().and_then(|t| t.first()).and_then(Value::as_object);
            let sharegpt = first.is_some_and(|turn| turn.contains_key("from") || turn.contains_key("value"));
            return Some(if sharegpt { ConversationFormat::ShareGpt } else { ConversationFormat::Minimind });
        }
        if record.contains_key("instruction") && record.contains_key("output") {
            return Some(ConversationFormat::Alpaca);
        }
        None
    }

    /// What a record of this format looks like, for error messages.
    pub fn shape(self) -> &'static str {
        match self {
            ConversationFormat::Minimind => r#"{"conversations": [{"role": ..., "content": ...}, ...]}"#,
            ConversationFormat::OpenAi => r#"{"messages": [{"role": ..., "content": ...}, ...]}"#,
            ConversationFormat::ShareGpt => r#"{"conversations": [{"from": "human" | "gpt" | "system", "value": ...}, ...]}"#,
            ConversationFormat::Alpaca => r#"{"instruction": ..., "input": ..., "output": ...}"#,
        }
    }
}

/// The roles a chat template knows.
const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

/// The record's messages, in OpenAI's shape. An empty list is a conversation with no turns (the caller
/// counts and skips it); anything malformed is an error message saying what was expected.
pub fn to_messages(record: &Map<String, Value>, format: ConversationFormat) -> Result<Vec<Value>, String> {
    match format {
        ConversationFormat::Minimind => role_messages(record, "conversations"),
        ConversationFormat::OpenAi => role_messages(record, "messages"),
        ConversationFormat::ShareGpt => sharegpt_messages(record),
        ConversationFormat::Alpaca => alpaca_messages(record),
    }
}

fn turns<'a>(record: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], String> {
    match record.get(key) {
        Some(Value::Array(turns)) => Ok(turns),
        Some(Value::Null) | None => Err(format!("has no \"{key}\" list")),
        Some(other) => Err(format!("\"{key}\" must be a list of turns, not {}", kind(other))),
    }
}

/// minimind's and OpenAI's turns: objects with a known role and a string content (or, for an assistant
/// that calls tools, a null content beside tool_calls). Other keys pass through to the template.
pub(crate) fn role_messages(record: &Map<String, Value>, key: &str) -> Result<Vec<Value>, String> {
    let mut messages = Vec::new();
    for (i, turn) in turns(record, key)?.iter().enumerate() {
        let Some(turn) = turn.as_object() else { return Err(format!("{key}[{i}] must be an object, not {}", kind(turn))) };
        let role = match turn.get("role") {
            Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role,
            Some(Value::String(role)) => return Err(format!("{key}[{i}].role is \"{role}\"; expected one of {}", ROLES.join(", "))),
            Some(other) => return Err(format!("{key}[{i}].role must be a string, not {}", kind(other))),
            None => return Err(format!("{key}[{i}] has no \"role\"; expected one of {}", ROLES.join(", "))),
        };
        match turn.get("content") {
            Some(Value::String(_)) => {}
            Some(Value::Null) | None if turn.contains_key("tool_calls") => {}
            Some(Value::Null) | None => return Err(format!("{key}[{i}] ({role}) has no \"content\" string")),
            Some(other) => return Err(format!("{key}[{i}].content must be a string, not {}", kind(other))),
        }
        messages.push(Value::Object(turn.clone()));
    }
    Ok(messages)
}

fn sharegpt_messages(record: &Map<String, Value>) -> Result<Vec<Value>, String> {
    let mut messages = Vec::new();
    for (i, turn) in turns(record, "conversations")?.iter().enumerate() {
        let Some(turn) = turn.as_object() else { return Err(format!("conversations[{i}] must be an object, not {}", kind(turn))) };
        let role = match turn.get("from").and_then(Value::as_str) {
            Some("human" | "user") => "user",
            Some("gpt" | "assistant" | "chatgpt" | "bard" | "bing") => "assistant",
            Some("system") => "system",
            Some("tool" | "observation" | "function_response") => "tool",
            Some(other) => {
                return Err(format!("conversations[{i}].from is \"{other}\"; expected human, gpt, system or tool (ShareGPT's speakers)"))
            }
            None => return Err(format!("conversations[{i}] has no \"from\" string; expected human, gpt, system or tool")),
        };
        let Some(value) = turn.get("value").and_then(Value::as_str) else {
            return Err(format!("conversations[{i}] ({role}) has no \"value\" string"));
        };
        messages.push(message(role, value));
    }
    Ok(messages)
}

fn alpaca_messages(record: &Map<String, Value>) -> Result<Vec<Value>, String> {
    let text = |key: &str, required: bool| -> Result<String, String> {
        match record.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Null) | None if !required => Ok(String::new()),
            Some(Value::Null) | None => Err(format!("has no \"{key}\" string")),
            Some(other) => Err(format!("\"{key}\" must be a string, not {}", kind(other))),
        }
    };
    let (instruction, input, output) = (text("instruction", true)?, text("input", false)?, text("output", true)?);
    let prompt = if input.trim().is_empty() { instruction } else { format!("{instruction}\n\n{input}") };
    let mut messages = Vec::new();
    if let Some(system) = record.get("system").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        messages.push(message("system", system));
    }
    messages.push(message("user", &prompt));
    messages.push(message("assistant", &output));
    Ok(messages)
}

fn message(role: &str, content: &str) -> Value {
    serde_json::json!({ "role": role, "content": content })
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn every_format_is_detected_and_converted() {
        let cases = [
            (
                r#"{"conversations": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}"#,
                ConversationFormat::Minimind,
            ),
            (r#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}"#, ConversationFormat::OpenAi),
            (r#"{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]}"#, ConversationFormat::ShareGpt),
            (r#"{"instruction": "a", "input": "", "output": "b"}"#, ConversationFormat::Alpaca),
        ];
        for (text, format) in cases {
            let r = record(text);
            assert_eq!(ConversationFormat::detect(&r), Some(format));
            let messages = to_messages(&r, format).unwrap();
            assert_eq!(messages, vec![message("user", "a"), message("assistant", "b")], "{text}");
        }
    }

    #[test]
    fn alpaca_input_follows_the_instruction() {
        let r = record(r#"{"instruction": "Translate", "input": "hello", "output": "你好"}"#);
        assert_eq!(to_messages(&r, ConversationFormat::Alpaca).unwrap()[0], message("user", "Translate\n\nhello"));
    }

    #[test]
    fn malformed_turns_say_what_was_expected() {
        let missing_role = record(r#"{"conversations": [{"content": "a"}]}"#);
        assert!(to_messages(&missing_role, ConversationFormat::Minimind).unwrap_err().contains("conversations[0] has no \"role\""));
        let bad_speaker = record(r#"{"conversations": [{"from": "robot", "value": "a"}]}"#);
        assert!(to_messages(&bad_speaker, ConversationFormat::ShareGpt).unwrap_err().contains("\"robot\""));
        let no_output = record(r#"{"instruction": "a"}"#);
        assert!(to_messages(&no_output, ConversationFormat::Alpaca).unwrap_err().contains("\"output\""));
        assert_eq!(ConversationFormat::detect(&record(r#"{"text": "a"}"#)), None);
    }
}
