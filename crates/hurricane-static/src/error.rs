use std::path::PathBuf;

/// Why a mount cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum StaticError {
    #[error("{} does not exist or cannot be read: {source}", path.display())]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("the URL prefix {0:?} must start and end with \"/\" and not be \"/\" alone")]
    Prefix(String),
}
