//! Why a mount cannot be set up.
//!
//! Error convention of the hurricane crates: a message includes the text of the error
//! that caused it, and that error is not chained as its `source()` too, so printing an
//! error prints every cause exactly once.

use std::path::PathBuf;

/// Why a mount cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum StaticError {
    /// The directory cannot be resolved or its entries cannot be listed.
    #[error("{} does not exist or cannot be read: {error}", path.display())]
    Directory {
        /// The directory as given.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The path exists but is a file (or something else).
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// A URL prefix that is not `/something/`.
    #[error("the URL prefix {0:?} must start and end with \"/\" and not be \"/\" alone")]
    Prefix(String),
}
