//! One error type for the whole core. Every message is written for the person running minilm: it names
//! the file (and row or line), says what was found and what was expected. Nothing here panics on bad input.

use std::path::{Path, PathBuf};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input data: a file that cannot be read as its type, a missing column, a malformed line.
    #[error("{path}{at}: {message}", path = .path.display(), at = location_suffix(.location))]
    Input { path: PathBuf, location: Option<String>, message: String },

    /// A tokenizer that cannot be loaded or used.
    #[error("tokenizer {path}: {message}", path = .path.display())]
    Tokenizer { path: PathBuf, message: String },

    /// Options that contradict each other or the files on disk.
    #[error("{0}")]
    Usage(String),

    /// The run was stopped (Ctrl-C or an AbortSignal); what was finished is kept and a rerun resumes.
    #[error("stopped before the end; run the same command again to resume")]
    Cancelled,

    /// A tensor operation failed (out of memory, or a bug: shapes are checked before they reach candle).
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),

    /// A failure that is a bug in minilm, not a problem with the input: it asks to be reported.
    #[error("internal error in minilm (please report it): {0}")]
    Internal(String),

    /// An operating-system error on a file we create or read.
    #[error("{path}: {source}", path = .path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

fn location_suffix(location: &Option<String>) -> String {
    location.as_ref().map(|l| format!(" ({l})")).unwrap_or_default()
}

impl Error {
    pub fn input(path: &Path, location: Option<String>, message: impl Into<String>) -> Self {
        Error::Input { path: path.to_path_buf(), location, message: message.into() }
    }

    pub fn tokenizer(path: &Path, message: impl Into<String>) -> Self {
        Error::Tokenizer { path: path.to_path_buf(), message: message.into() }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }
}

/// Attaches the path to an io::Error: `std::fs::read(p).at(p)?`.
pub trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io { path: path.to_path_buf(), source })
    }
}
