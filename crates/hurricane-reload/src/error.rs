//! Why autoreload cannot run.
//!
//! Error convention of the hurricane crates: a message includes the text of the error
//! that caused it, and that error is not chained as its `source()` too, so printing an
//! error prints every cause exactly once.

/// Why autoreload cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// A watch or ignore pattern is not a valid glob.
    #[error("bad watch pattern {pattern:?}: {error}")]
    Pattern {
        /// The pattern as given (empty when the set as a whole failed to build).
        pattern: String,
        /// What globset said.
        error: globset::Error,
    },
    /// The file watcher could not be set up.
    #[error("cannot watch for changes: {0}")]
    Watch(notify::Error),
    /// The watcher's thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// The listening sockets could not be prepared for handing over.
    #[error("cannot prepare the sockets for the server process: {0}")]
    Sockets(std::io::Error),
    /// The server process could not be started.
    #[error("cannot start the server process: {0}")]
    Spawn(std::io::Error),
}
