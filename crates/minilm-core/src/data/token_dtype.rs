//! The integer type token ids are stored as, and the one place that encodes and decodes them.
//!
//! litdata's TokensLoader files hold int16 or int32 (torch.short / torch.int); llm.c's .bin files hold
//! uint16. litdata has no unsigned 16-bit type, so an int16 shard holds ids up to 32,767.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenDtype {
    Int16,
    Int32,
    /// llm.c's token files only; minilm never writes it.
    Uint16,
}

impl TokenDtype {
    /// The dtypes a litdata shard can be written in, by name.
    pub fn parse(name: &str) -> Result<TokenDtype> {
        match name {
            "int16" => Ok(TokenDtype::Int16),
            "int32" => Ok(TokenDtype::Int32),
            other => Err(Error::usage(format!("dtype must be int16 or int32, not '{other}'"))),
        }
    }

    /// The smallest litdata dtype that holds `max_id`.
    pub fn for_max_id(max_id: u32) -> TokenDtype {
        if max_id <= i16::MAX as u32 {
            TokenDtype::Int16
        } else {
            TokenDtype::Int32
        }
    }

    pub fn max_id(self) -> u32 {
        match self {
            TokenDtype::Int16 => i16::MAX as u32,
            TokenDtype::Int32 => i32::MAX as u32,
            TokenDtype::Uint16 => u16::MAX as u32,
        }
    }

    /// Bytes per token.
    pub fn size(self) -> usize {
        match self {
            TokenDtype::Int16 | TokenDtype::Uint16 => 2,
            TokenDtype::Int32 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TokenDtype::Int16 => "int16",
            TokenDtype::Int32 => "int32",
            TokenDtype::Uint16 => "uint16",
        }
    }

    /// litdata's data_format entry: its torch dtype code (14 = torch.short, 16 = torch.int).
    pub(crate) fn data_format(self) -> &'static str {
        match self {
            TokenDtype::Int16 => "no_header_tensor:14",
            TokenDtype::Int32 => "no_header_tensor:16",
            TokenDtype::Uint16 => unreachable!("litdata has no uint16 tensors; minilm writes int16 or int32"),
        }
    }

    pub(crate) fn from_data_format(format: &str) -> Option<TokenDtype> {
        match format {
            "no_header_tensor:14" => Some(TokenDtype::Int16),
            "no_header_tensor:16" => Some(TokenDtype::Int32),
            _ => None,
        }
    }

    /// Appends `id` in this dtype; the caller has checked it fits (`max_id`).
    pub(crate) fn push(self, out: &mut Vec<u8>, id: u32) {
        match self {
            TokenDtype::Int16 => out.extend_from_slice(&(id as i16).to_le_bytes()),
            TokenDtype::Int32 => out.extend_from_slice(&(id as i32).to_le_bytes()),
            TokenDtype::Uint16 => out.extend_from_slice(&(id as u16).to_le_bytes()),
        }
    }

    /// Appends the ids stored in `bytes` to `out`.
    pub fn decode_into(self, bytes: &[u8], out: &mut Vec<u32>) {
        match self {
            TokenDtype::Int16 => out.extend(bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as u16 as u32)),
            TokenDtype::Uint16 => out.extend(bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as u32)),
            TokenDtype::Int32 => out.extend(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u32)),
        }
    }

    pub fn decode(self, bytes: &[u8]) -> Vec<u32> {
        let mut out = Vec::with_capacity(bytes.len() / self.size());
        self.decode_into(bytes, &mut out);
        out
    }
}
