//! litgpt's precision settings, as the dtypes a model stores its weights in and computes in.
//!
//! - `32-true`: float32 everywhere.
//! - `bf16-mixed`: float32 weights and optimizer state (the master copy AdamW updates); the forward and
//!   backward passes run in bfloat16, except RMSNorm, softmax, RoPE and the loss, which compute in float32.
//! - `bf16-true`: weights, activations and gradients in bfloat16; AdamW's moments stay float32.

use candle_core::DType;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    #[default]
    #[serde(rename = "32-true")]
    Float32,
    #[serde(rename = "bf16-mixed")]
    Bf16Mixed,
    #[serde(rename = "bf16-true")]
    Bf16True,
}

impl Precision {
    pub fn weight_dtype(self) -> DType {
        match self {
            Precision::Float32 | Precision::Bf16Mixed => DType::F32,
            Precision::Bf16True => DType::BF16,
        }
    }

    pub fn compute_dtype(self) -> DType {
        match self {
            Precision::Float32 => DType::F32,
            Precision::Bf16Mixed | Precision::Bf16True => DType::BF16,
        }
    }
}
