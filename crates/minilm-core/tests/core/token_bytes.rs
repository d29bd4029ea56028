//! Bits per byte's denominator: a text's tokens stand for exactly its UTF-8 bytes, and special tokens and a
//! model's padded ids for none, with both shared reference tokenizers.

use crate::support;

use minilm_core::data::token_bytes::TokenBytes;
use support::shared_tokenizer;
use tokenizers::Tokenizer;

fn load(name: &str) -> Tokenizer {
    Tokenizer::from_file(shared_tokenizer(name).join("tokenizer.json")).expect("a shared tokenizer")
}

#[test]
fn a_texts_tokens_stand_for_exactly_its_bytes() {
    for name in ["minimind-6400", "minimind3-6400"] {
        let tokenizer = load(name);
        let table = TokenBytes::of(&tokenizer, tokenizer.get_vocab_size(true));
        for text in ["床前明月光，疑是地上霜。", "The quick brown fox, 1984 — naïve café.", "混合 mixed 文本\n\t tabs  and  spaces 🎉"]
        {
            let ids = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
            assert_eq!(table.total(&ids), text.len() as u64, "{name}: {text}");
        }
    }
}

#[test]
fn special_tokens_and_padded_ids_stand_for_no_bytes() {
    let tokenizer = load("minimind-6400");
    let table = TokenBytes::of(&tokenizer, 6464);
    for special in ["<unk>", "<s>", "</s>"] {
        let id = tokenizer.token_to_id(special).unwrap();
        assert_eq!(table.get(id), 0, "{special}");
    }
    assert!(table.lengths[6400..].iter().all(|&n| n == 0));
    assert_eq!(table.lengths.len(), 6464);
}
