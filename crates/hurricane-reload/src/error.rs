/// Why autoreload cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("bad watch pattern {pattern:?}: {error}")]
    Pattern {
        pattern: String,
        #[source]
        error: globset::Error,
    },
    #[error("cannot watch for changes: {0}")]
    Watch(#[source] notify::Error),
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("cannot prepare the sockets for the server process: {0}")]
    Sockets(#[source] std::io::Error),
    #[error("cannot start the server process: {0}")]
    Spawn(#[source] std::io::Error),
}
