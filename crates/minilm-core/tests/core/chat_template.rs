//! Chat templates against transformers: every conversation of test/golden/chat_template.json (made once
//! by scripts/reference/make_chat_golden.py with transformers' apply_chat_template) renders to the same
//! text and, encoded without added tokens, to the same ids, on both reference tokenizers.

use crate::support;

use minijinja::Value;
use minilm_core::data::chat_template::{ChatTemplate, RenderOptions};
use minilm_core::data::tokenizer::DocumentTokenizer;

fn golden() -> Value {
    let path = support::repo_root().join("test/golden/chat_template.json");
    // Parsed straight into template values, so that the tools' keys keep their order (tojson writes them).
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn field(case: &Value, name: &str) -> Value {
    case.get_attr(name).unwrap()
}

#[test]
fn both_reference_templates_render_and_encode_as_transformers_does() {
    let golden = golden();
    for name in ["minimind-6400", "minimind3-6400"] {
        let dir = support::shared_tokenizer(name);
        let template = ChatTemplate::load(&dir).unwrap();
        let tokenizer = DocumentTokenizer::load(&dir).unwrap();
        let mut checked = 0;
        for case in field(&golden, "cases").try_iter().unwrap().filter(|c| field(c, "tokenizer").as_str() == Some(name)) {
            let label = format!("{name} {}", field(&case, "name"));
            let tools = field(&case, "tools");
            let options = RenderOptions {
                tools: (!tools.is_none()).then_some(tools),
                add_generation_prompt: field(&case, "add_generation_prompt").is_true(),
                template_kwargs: Some(field(&case, "template_kwargs")),
            };
            let text = template.render(&field(&case, "messages"), &options).unwrap();
            assert_eq!(text, field(&case, "text").as_str().unwrap(), "{label}: text");
            let ids: Vec<u32> = field(&case, "ids").try_iter().unwrap().map(|id| u32::try_from(id).unwrap()).collect();
            assert_eq!(tokenizer.encode_text(&text).unwrap(), ids, "{label}: ids");
            checked += 1;
        }
        assert!(checked >= 20, "{name}: {checked} cases");
    }
}
