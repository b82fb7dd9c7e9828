//! Autoreload for hurricane: change a file, and the next request is served by fresh code,
//! without a refused connection or a failed request.
//!
//! What it is for:
//! - [`Supervisor`]: a process that never loads Python. It owns the listening sockets and
//!   runs the server as a child process that inherits them (systemd's `LISTEN_FDS`
//!   protocol); the child says when it serves (systemd's `READY=1`). Both protocols
//!   and the child processes are `hurricane-supervisor`'s. On a change it starts a new child and stops
//!   the old one only once the new one is ready, so Python's module state is always
//!   fresh (no `importlib.reload`), and connections arriving meanwhile wait in the
//!   backlog. A child that fails to start leaves the old one serving; with none serving,
//!   the supervisor answers 503 with the error.
//! - [`ChangeWatcher`]: notify (inotify, or polling once a second where inotify cannot
//!   watch) over the project's directories, filtered by [`WatchFilter`] (Python files,
//!   templates, translations; not `.git`, bytecode, virtualenvs, databases or editor
//!   swap files), with bursts of events grouped into one [`Change`] once [`QUIET`] has
//!   passed.
//!
//! What it is not for: it knows nothing of Django or of hurricane's options. Which
//! directories to watch and how to start a child are the CLI's to say; the child is a
//! normal `hurricane serve` that happens to inherit its sockets.

mod error;
mod filter;
mod supervisor;
mod watcher;

pub use error::ReloadError;
pub use filter::{IgnoredDirs, WatchFilter};
pub use supervisor::{ChildCommand, Supervisor};
pub use watcher::{Change, ChangeWatcher, WatchRoot, QUIET};
