//! Preference pairs for DPO, in the layouts TRL's and minimind's data come in, each made into a prompt
//! and the two replies to it:
//!
//! - `{"prompt": "...", "chosen": "...", "rejected": "..."}`: TRL's standard layout; the prompt is a
//!   user turn and each reply an assistant turn;
//! - `{"prompt": [messages], "chosen": [messages], "rejected": [messages]}`: TRL's conversational layout
//!   (a prompt string beside message lists is a user turn too);
//! - `{"chosen": [messages], "rejected": [messages]}`: whole conversations, as minimind's dpo.jsonl and
//!   TRL's implicit-prompt layout write them; the prompt is the turns the two share from the start.
//!
//! Messages are minimind's / OpenAI's `{"role", "content"}` turns.

use serde_json::{json, Map, Value};

use super::formats::{kind, role_messages};

/// A prompt (the turns before the replies) and the preferred and the dispreferred reply to it.
#[derive(Debug, PartialEq)]
pub struct PreferencePair {
    pub prompt: Vec<Value>,
    pub chosen: Vec<Value>,
    pub rejected: Vec<Value>,
}

/// What a preference record looks like, for error messages.
pub const PREFERENCE_SHAPE: &str = r#"{"prompt": "...", "chosen": "...", "rejected": "..."}, the same with message lists, or {"chosen": [messages], "rejected": [messages]}"#;

enum Field {
    Missing,
    Text(String),
    Messages(Vec<Value>),
}

fn field(record: &Map<String, Value>, key: &str) -> Result<Field, String> {
    match record.get(key) {
        None | Some(Value::Null) => Ok(Field::Missing),
        Some(Value::String(text)) => Ok(Field::Text(text.clone())),
        Some(Value::Array(_)) => Ok(Field::Messages(role_messages(record, key)?)),
        Some(other) => Err(format!("\"{key}\" must be a string or a list of messages, not {}", kind(other))),
    }
}

fn turn(role: &str, content: String) -> Vec<Value> {
    vec![json!({"role": role, "content": content})]
}

/// The record's prompt and replies; anything malformed is an error message saying what was expected.
pub fn to_pair(record: &Map<String, Value>) -> Result<PreferencePair, String> {
    let (prompt, chosen, rejected) = (field(record, "prompt")?, field(record, "chosen")?, field(record, "rejected")?);
    let reply = |field: Field| match field {
        Field::Text(text) => turn("assistant", text),
        Field::Messages(messages) => messages,
        Field::Missing => unreachable!("checked by the caller"),
    };
    match (prompt, chosen, rejected) {
        (_, Field::Missing, _) | (_, _, Field::Missing) => Err(format!("needs \"chosen\" and \"rejected\"; expected {PREFERENCE_SHAPE}")),
        (Field::Missing, Field::Messages(chosen), Field::Messages(rejected)) => {
            let shared = chosen.iter().zip(&rejected).take_while(|(a, b)| a == b).count();
            // Identical conversations share everything: the pair is skipped as identical later.
            let shared = shared.min(chosen.len().saturating_sub(1)).min(rejected.len().saturating_sub(1));
            Ok(PreferencePair { prompt: chosen[..shared].to_vec(), chosen: chosen[shared..].to_vec(), rejected: rejected[shared..].to_vec() })
        }
        (Field::Missing, _, _) => {
            Err(format!("has reply texts but no \"prompt\"; give the prompt, or chosen and rejected as whole conversations; expected {PREFERENCE_SHAPE}"))
        }
        (prompt, chosen, rejected) => {
            let prompt = match prompt {
                Field::Text(text) => turn("user", text),
                Field::Messages(messages) => messages,
                Field::Missing => unreachable!("matched above"),
            };
            Ok(PreferencePair { prompt, chosen: reply(chosen), rejected: reply(rejected) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_three_layouts_give_the_same_pair() {
        let want = PreferencePair {
            prompt: turn("user", "1+1=?".into()),
            chosen: turn("assistant", "2".into()),
            rejected: turn("assistant", "3".into()),
        };
        let standard = record(json!({"prompt": "1+1=?", "chosen": "2", "rejected": "3"}));
        let conversational = record(json!({
            "prompt": [{"role": "user", "content": "1+1=?"}],
            "chosen": [{"role": "assistant", "content": "2"}],
            "rejected": [{"role": "assistant", "content": "3"}]
        }));
        let implicit = record(json!({
            "chosen": [{"role": "user", "content": "1+1=?"}, {"role": "assistant", "content": "2"}],
            "rejected": [{"role": "user", "content": "1+1=?"}, {"role": "assistant", "content": "3"}]
        }));
        for r in [standard, conversational, implicit] {
            assert_eq!(to_pair(&r).unwrap(), want);
        }
    }

    #[test]
    fn malformed_records_say_what_was_expected() {
        let no_prompt = to_pair(&record(json!({"chosen": "2", "rejected": "3"}))).unwrap_err();
        assert!(no_prompt.contains("no \"prompt\""), "{no_prompt}");
        let no_rejected = to_pair(&record(json!({"prompt": "q", "chosen": "2"}))).unwrap_err();
        assert!(no_rejected.contains("needs \"chosen\" and \"rejected\""), "{no_rejected}");
        let number = to_pair(&record(json!({"prompt": "q", "chosen": 2, "rejected": "3"}))).unwrap_err();
        assert!(number.contains("\"chosen\" must be a string or a list of messages, not a number"), "{number}");
        let role = to_pair(&record(json!({"prompt": "q", "chosen": [{"role": "bot", "content": "2"}], "rejected": "3"}))).unwrap_err();
        assert!(role.contains("chosen[0].role is \"bot\""), "{role}");
    }
}
