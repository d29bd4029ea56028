//! Supervised fine-tuning data: conversation files in the formats people have ([`formats`], read by
//! [`records`]), rendered with the tokenizer's chat template and masked to the assistant's tokens
//! ([`example`]), and written to a folder the trainer reads examples from ([`dataset`]).

pub mod dataset;
pub mod example;
pub mod formats;
pub mod preferences;
pub mod records;
