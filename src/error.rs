//! Typed errors of the library. The binary adds context (which command, which file).

use std::path::PathBuf;

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file (vectors or queries) could not be read or is not valid.
    #[error(transparent)]
    Input(#[from] crate::io::InputError),

    /// A hits file could not be written.
    #[error(transparent)]
    Output(#[from] crate::io::OutputError),

    /// An operating-system I/O error on a named file.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The file is not an lmdiskann index, or was written by a newer major version.
    #[error("{}: {reason}", path.display())]
    NotAnIndex { path: PathBuf, reason: String },

    /// A checksum or geometry check failed: the file was damaged after it was written.
    #[error("{}: corrupted index: {reason}", path.display())]
    Corrupted { path: PathBuf, reason: String },

    /// The parameters asked for a layout or setting that cannot work; says which knob to turn.
    #[error("{0}")]
    InvalidParameter(String),

    /// The input cannot be indexed with the chosen metric (e.g. a zero vector under cosine).
    #[error("{0}")]
    InvalidData(String),

    /// A change failed after it had begun to touch the index, and undoing it failed too;
    /// `left` says what the index holds now.
    #[error("{cause}; undoing it failed too ({undo}): {left}")]
    NotUndone { cause: Box<Error>, undo: Box<Error>, left: crate::storage::Left },

    /// An output path names something this command may not write there.
    #[error("{}: {why}", path.display())]
    Refused { path: PathBuf, why: crate::storage::Refusal },

    /// Another process holds a lock that this operation needs.
    #[error("{}: {what}", path.display())]
    Locked { path: PathBuf, what: String },
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, what: &'static str, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), what, source }
    }

    /// A zero vector where cosine needs a direction; `row` counts from the input's start.
    pub(crate) fn zero_vector(row: u64, rowid: u64) -> Self {
        Error::InvalidData(format!(
            "row {row} (counting from 0; rowid {rowid}) is a zero vector, which has no cosine distance; remove it or use --metric l2"
        ))
    }
}
