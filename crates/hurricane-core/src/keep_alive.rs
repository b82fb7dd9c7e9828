//! How long a connection stays open between requests, and ending keep-alive for a drain.
//!
//! hyper's own `header_read_timeout` starts as soon as it waits for a request head, so on a
//! keep-alive connection it also counts the idle time between requests: it cannot tell an
//! idle client (a load balancer's pooled connection, which must stay open longer than the
//! balancer's own idle timeout) from a slow one (a slowloris, which must be cut off
//! quickly). [`Activity`] tells them apart. A connection is *idle* until the first byte of
//! its next request arrives, then *reading a head* until hyper hands the request over,
//! then *busy* until its response body has been sent; the idle and head phases each have
//! a limit ([`Limits`]).
//!
//! [`KeepAlive`] is the switch a drain turns: from then on every response says
//! `Connection: close`, so clients reconnect (to other pods, once readiness has failed)
//! instead of reusing a connection that is about to close.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Ends keep-alive on the servers it is given to ([`Server::with_keep_alive`]).
///
/// ```
/// use hurricane_core::KeepAlive;
///
/// let keep_alive = KeepAlive::default();
/// assert!(keep_alive.is_on());
/// keep_alive.end(); // e.g. on SIGTERM: responses now carry `Connection: close`
/// assert!(!keep_alive.is_on());
/// ```
///
/// [`Server::with_keep_alive`]: crate::Server::with_keep_alive
#[derive(Debug, Clone, Default)]
pub struct KeepAlive {
    ended: Arc<AtomicBool>,
}

impl KeepAlive {
    /// From now on, every response closes its connection after it is sent.
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }

    /// Whether responses still leave their connection open for the next request.
    pub fn is_on(&self) -> bool {
        !self.ended.load(Ordering::Acquire)
    }
}

/// How long a connection may stay idle, and how long a request head may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub idle: Duration,
    pub head: Duration,
}

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the first byte of the next request.
    Idle,
    /// Bytes of a request head arrived; hyper has not handed the request over yet.
    ReadingHead,
    /// A request is being answered (its response body not yet sent).
    Busy,
}

/// The phase of one connection and when it began; shared by the connection's stream
/// (bytes arrived), its service (a request started) and its response bodies (sent).
///
/// Nobody is woken when the phase changes: the connection's task looks at it at least
/// once per the shorter limit (see [`Activity::next_check`]), which costs a timer every
/// half-minute per connection instead of a wake-up per request.
#[derive(Debug)]
pub(crate) struct Activity {
    phase: Mutex<(Phase, Instant)>,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new((Phase::Idle, Instant::now())),
        })
    }

    /// Called for every read that returned bytes.
    pub(crate) fn bytes_arrived(&self) {
        let mut phase = self.lock();
        if phase.0 == Phase::Idle {
            *phase = (Phase::ReadingHead, Instant::now());
        }
    }

    pub(crate) fn request_started(&self) {
        *self.lock() = (Phase::Busy, Instant::now());
    }

    /// Called when a response body has been sent (or dropped): idle again.
    pub(crate) fn response_sent(&self) {
        *self.lock() = (Phase::Idle, Instant::now());
    }

    /// The phase whose limit has run out at `now`, if any (never while busy: a
    /// request's time is the application's).
    pub(crate) fn expired(&self, limits: Limits, now: Instant) -> Option<Phase> {
        let (phase, since) = *self.lock();
        let limit = match phase {
            Phase::Idle => limits.idle,
            Phase::ReadingHead => limits.head,
            Phase::Busy => return None,
        };
        (since + limit <= now).then_some(phase)
    }

    /// When to look again: the current phase's deadline, and no later than the shorter
    /// limit from `now`. A phase that begins before that look cannot run out before it,
    /// since its own limit is at least the shorter one, so no deadline is missed.
    pub(crate) fn next_check(&self, limits: Limits, now: Instant) -> Instant {
        let (phase, since) = *self.lock();
        let latest = now + limits.idle.min(limits.head);
        match phase {
            Phase::Idle => latest.min(since + limits.idle),
            Phase::ReadingHead => latest.min(since + limits.head),
            Phase::Busy => latest,
        }
    }

    fn lock(&self) -> MutexGuard<'_, (Phase, Instant)> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks the connection idle when dropped: it lives in a response body, which hyper drops
/// once the body has been sent.
#[derive(Debug)]
pub(crate) struct IdleWhenSent(pub Arc<Activity>);

impl Drop for IdleWhenSent {
    fn drop(&mut self) {
        self.0.response_sent();
    }
}
