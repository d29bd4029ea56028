//! One conversation made into training examples: rendered with the tokenizer's chat template, encoded
//! as transformers' apply_chat_template(tokenize=True) encodes it, with a mask that marks the tokens the
//! loss is taken on (each assistant reply through its end token).
//!
//! The replies are found by rendering the conversation up to each one: the text of the turns before
//! reply i with the generation prompt is what the model is given, and the turns through reply i
//! rendered without it end where the reply does. The characters after the two texts part are the reply. When a
//! template renders earlier turns differently once later ones follow (Qwen3-style templates drop earlier
//! replies' reasoning), one text cannot hold every reply as it was generated; such a conversation
//! becomes one example per reply, each the conversation through that reply.

use minijinja::Value as JinjaValue;
use serde_json::Value;

use crate::data::chat_template::{ChatTemplate, RenderOptions};
use crate::data::tokenizer::DocumentTokenizer;

pub struct Example {
    pub ids: Vec<u32>,
    /// 1 where the token is a target of the loss; the first token never is (nothing predicts it).
    pub mask: Vec<u8>,
    /// Cut to the longest length trained on.
    pub truncated: bool,
}

/// Why a conversation gave no example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// No turns at all.
    Empty,
    /// No assistant turn: nothing to learn from.
    NoAssistant,
    /// Truncation to the longest length left no assistant token.
    TruncatedAway,
    /// A preference pair whose chosen and rejected replies are the same.
    Identical,
    /// A preference pair with a reply cut by max_seq_length (its log-probability would be a part's).
    ReplyTooLong,
}

pub struct ExampleBuilder<'a> {
    pub template: &'a ChatTemplate,
    pub tokenizer: &'a DocumentTokenizer,
    /// false trains on every token, as litgpt's mask_prompt: false does.
    pub mask_prompt: bool,
    /// Tokens kept per example: max_seq_length + 1 (the inputs and the targets shifted by one).
    pub max_tokens: usize,
}

/// The examples of one conversation, whether any was truncated, or why there are none. Errors are
/// messages for the record's location.
pub enum Built {
    Examples { examples: Vec<Example>, split_by_reply: bool },
    Skipped(Skip),
}

impl ExampleBuilder<'_> {
    /// `tools`: the function schemas the conversation offers (OpenAI records carry them beside the messages).
    pub fn build(&self, messages: &[Value], tools: Option<&Value>) -> Result<Built, String> {
        self.build_scoring(messages, tools, 0, self.mask_prompt)
    }

    /// A prompt and one reply to it (one side of a preference pair): the loss is on the reply's
    /// assistant turns only, whatever mask_prompt says.
    pub fn build_reply(&self, prompt: &[Value], reply: &[Value], tools: Option<&Value>) -> Result<Built, String> {
        let messages: Vec<Value> = prompt.iter().chain(reply).cloned().collect();
        self.build_scoring(&messages, tools, prompt.len(), true)
    }

    /// The examples of `messages`, scoring the assistant turns from message `first_scored` on (every
    /// token without `mask_prompt`).
    fn build_scoring(&self, messages: &[Value], tools: Option<&Value>, first_scored: usize, mask_prompt: bool) -> Result<Built, String> {
        if messages.is_empty() {
            return Ok(Built::Skipped(Skip::Empty));
        }
        let replies: Vec<usize> = (first_scored..messages.len()).filter(|&i| messages[i]["role"] == "assistant").collect();
        if replies.is_empty() {
            return Ok(Built::Skipped(Skip::NoAssistant));
        }
        let full = self.render(messages, tools, false)?;
        if !mask_prompt {
            let (ids, _) = self.tokenizer.encode_text_with_offsets(&full)?;
            let mask = vec![1; ids.len()];
            return Ok(self.finish(vec![(ids, mask)], false));
        }
        // Each reply's byte range in the text through it.
        let mut spans = Vec::with_capacity(replies.len());
        for &i in &replies {
            let before = self.render(&messages[..i], tools, true)?;
            let through = self.render(&messages[..=i], tools, false)?;
            // Usually the prompt is a prefix of the text through the reply. Templates that open an empty
            // reasoning block in the prompt (minimind3's `<think>\n\n</think>`) but write the reply's own
            // reasoning there diverge inside it: the reply then starts where the two part.
            spans.push((common_prefix_len(&before, &through), through));
        }
        let one_text = spans.iter().all(|(_, through)| full.starts_with(through.as_str()));
        let texts: Vec<(String, Vec<(usize, usize)>)> = if one_text {
            vec![(full, spans.iter().map(|(start, through)| (*start, through.len())).collect())]
        } else {
            spans.into_iter().map(|(start, through)| (through.clone(), vec![(start, through.len())])).collect()
        };
        let mut encoded = Vec::with_capacity(texts.len());
        for (text, ranges) in texts {
            let (ids, offsets) = self.tokenizer.encode_text_with_offsets(&text)?;
            let mask = offsets.iter().map(|&(start, _)| u8::from(ranges.iter().any(|&(a, b)| start >= a && start < b))).collect();
            encoded.push((ids, mask));
        }
        Ok(self.finish(encoded, !one_text))
    }

    fn render(&self, messages: &[Value], tools: Option<&Value>, add_generation_prompt: bool) -> Result<String, String> {
        let tools = tools.filter(|t| !t.is_null()).map(JinjaValue::from_serialize);
        let options = RenderOptions { tools, add_generation_prompt, ..RenderOptions::default() };
        self.template.render(&JinjaValue::from_serialize(messages), &options).map_err(|e| e.to_string())
    }

    fn finish(&self, encoded: Vec<(Vec<u32>, Vec<u8>)>, split_by_reply: bool) -> Built {
        let mut examples = Vec::with_capacity(encoded.len());
        for (mut ids, mut mask) in encoded {
            let truncated = ids.len() > self.max_tokens;
            ids.truncate(self.max_tokens);
            mask.truncate(self.max_tokens);
            if let Some(first) = mask.first_mut() {
                *first = 0;
            }
            if mask.contains(&1) {
                examples.push(Example { ids, mask, truncated });
            }
        }
        if examples.is_empty() {
            return Built::Skipped(Skip::TruncatedAway);
        }
        Built::Examples { examples, split_by_reply }
    }
}

/// The length in bytes of the longest common prefix of `a` and `b`, at a character boundary.
fn common_prefix_len(a: &str, b: &str) -> usize {
    a.char_indices().zip(b.chars()).find(|((_, x), y)| x != y).map_or(a.len().min(b.len()), |((i, _), _)| i)
}
