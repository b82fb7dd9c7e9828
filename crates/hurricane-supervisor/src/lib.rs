//! Process supervision for hurricane: the process that runs hurricane's server
//! processes and never loads Python.
//!
//! What it is for:
//! - The protocols between a supervisor and its servers, systemd's own so that systemd
//!   can equally start a server: sockets handed down as descriptors 3, 4, ...
//!   ([`HandedSockets`], [`inherited_sockets`]) and notifications on `NOTIFY_SOCKET`
//!   ([`notify_ready`], [`notify_retire`], read by [`NotifySocket`]).
//! - [`ChildProcess`]: one server process, its output relayed line by line
//!   ([`Output`]), stopped gracefully or killed.
//! - [`handoff`]: connections accepted by the supervisor and passed to a server process
//!   over a Unix socket (`SCM_RIGHTS`), and the server telling when it closed them.
//! - [`Pod`]: `--processes N`: N server processes behind one accept loop that gives
//!   each new connection to the process with the fewest open; the pod's probes and
//!   metrics; processes replaced when they die, ask to be replaced (`--max-requests`,
//!   `--max-memory`, `--max-lifetime`, stuck requests) or stop answering their
//!   liveness checks; `SIGHUP` replaces them one at a time. As PID 1 (a container's
//!   first process), it also reaps the orphaned processes the kernel gives it.
//!
//! Example: `examples/pod.rs`, two copies of a plain Rust server behind a pod (`cargo
//! run -p hurricane-supervisor --example pod`).
//!
//! What it is not for: it knows nothing of Django, Python or the command line. How to
//! start a server process is the caller's to say ([`ChildCommand`]). Autoreload (the file
//! watcher and its reload policy) is `hurricane-reload`, built on the same parts.

mod activation;
mod child;
pub mod handoff;
mod notify;
mod output;
mod pod;
mod reaper;

pub use activation::{
    inherited_sockets, notify_metrics, notify_ready, notify_retire, HandedSockets, InheritedSocket,
    SocketRole,
};
pub use child::ChildProcess;
pub use notify::{Notification, NotifySocket};
pub use output::Output;
pub use pod::{
    backoff, Pod, PodConfig, PodError, PodReporter, Reason, StopRequest, POLL_INTERVAL,
    REPLACEMENT_FAILURES, UNRESPONSIVE_AFTER,
};

/// Builds the command that starts one server process.
pub type ChildCommand = Box<dyn Fn() -> std::process::Command + Send + Sync>;
