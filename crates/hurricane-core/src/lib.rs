//! The event-loop HTTP server at the heart of hurricane.
//!
//! `hurricane-core` accepts TCP connections with tokio, speaks HTTP/1.1 (keep-alive and
//! pipelining) with hyper, enforces the limits a production server needs (request body size,
//! header size, header read timeout, idle keep-alive, connection count), reports every finished request to
//! [`RequestObserver`]s (the access log is one of them), and shuts down gracefully.
//!
//! What it is for: the transport. It hands every request, with its body already read into
//! memory and bounded by [`ServerConfig::max_body_size`], to a [`Handler`], and writes the
//! [`ResponseBody`] the handler returns.
//!
//! What it is not for: it knows nothing about Python, WSGI, Django, probes or which files
//! to serve. Those live in their own crates (`hurricane-wsgi`, `hurricane-probe`,
//! `hurricane-static`) and plug in as handlers and observers; [`send_file`] only streams a
//! file they have opened. It is the only hurricane crate that depends on hyper; what the
//! others need from it is re-exported here ([`ReasonPhrase`]).
//!
//! Example: `examples/hello.rs`, a plain Rust handler (`cargo run -p hurricane-core
//! --example hello`).

#![forbid(unsafe_code)]

mod access;
mod body;
mod config;
mod error;
mod file;
mod forwarded;
mod handler;
mod incoming;
mod keep_alive;
mod linger;
mod rejection;
mod server;

pub use access::{AccessLog, RequestObserver, RequestRecord, ACCESS_LOG_TARGET};
pub use body::{
    channel_body, BodySender, BoxError, ChannelReceiver, ClientGone, ResponseBody, TrySend,
};
pub use config::ServerConfig;
pub use error::ServerError;
pub use file::{send_file, SendFileError};
pub use forwarded::{ForwardedAllowIps, ForwardedAllowIpsError, RemoteClient, Scheme};
pub use handler::{ConnectionInfo, Handler};
pub use incoming::HandedConnection;
pub use keep_alive::KeepAlive;
pub use server::{Server, ShutdownOutcome};

/// A response's reason phrase when it is not the standard one (`HTTP/1.1 200 Okay`): put
/// it in the response's extensions. Re-exported from hyper so that only this crate
/// depends on hyper.
pub use hyper::ext::ReasonPhrase;
